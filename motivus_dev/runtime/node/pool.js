'use strict';
// One worker process of the Motivus local pool.
//
// The Python side (motivus_dev/runtime/pool.py) starts N of these and talks to each over
// stdin/stdout, one JSON object per line. Big strings travel outside the JSON, as raw bytes
// right after their line, so that neither side builds or parses a JSON line of 100 MB:
// a request with `blobs: [n1, n2, ...]` is followed by that many bytes of each blob (the
// run request's preload files, in the order of body.preload_files), and a result with
// `body_bytes: n` is followed by the n bytes of its body. This process hosts the package loaders in
// worker_threads exactly as a real node worker does (worker-contract.md): the loader's text
// runs with `new Worker(loaderText, {eval: true})`, gets one task body, answers one message.
// A warm worker is kept per package hash (contract point 6), so a package's loader and its
// compiled module are reused by later tasks of the same package.
//
// Requests (Python -> node):
//   {op: "package", hash, loader, wasm}      loader text, wasm base64; sent once per hash
//   {op: "forget", hash}                     drop a package (and its warm worker)
//   {op: "data", hash, zip}                  a verified data_link zip (base64), once per hash
//   {op: "forget_data", hash}
//   {op: "run", id, hash, data_hash, body, timeout_ms, blobs}   + the preload files' bytes
//   {op: "cancel", id}
// Replies (node -> Python):
//   {op: "ready", pid}
//   {op: "result", id, result: {stdout, stderr, exitCode}, body_bytes}   + the body's bytes
//   {op: "result", id, error: "why the task failed outside the loader"}
//   {op: "log", text}

const { Worker } = require('worker_threads');

const packages = new Map(); // hash -> {loader, wasm (base64), buff (Buffer), module}
const dataZips = new Map(); // hash -> Buffer
const warm = new Map(); // package hash -> {worker, busy}
const running = new Map(); // task id -> {finish}
const earlyCancels = new Map(); // task id -> reason, for a cancel that overtook its run
const heapMb = Number(process.env.MOTIVUS_WORKER_HEAP_MB || 0);

function send(msg) {
  const result = msg.result;
  if (result && typeof result.body === 'string') {
    // The body (base64, megabytes for a big result file) goes raw after the line.
    const body = result.body;
    const head = Object.assign({}, msg, { result: Object.assign({}, result, { body: undefined }) });
    head.body_bytes = Buffer.byteLength(body, 'utf8');
    process.stdout.write(JSON.stringify(head) + '\n');
    process.stdout.write(body, 'utf8');
    return;
  }
  process.stdout.write(JSON.stringify(msg) + '\n');
}

function log(text) {
  process.stderr.write(String(text) + '\n');
}

function getPackage(hash) {
  const pkg = packages.get(hash);
  if (!pkg) throw new Error(`package ${hash} was not sent to this worker process`);
  if (!pkg.module) {
    // Compiled once per hash per process; handed to the loader as `module` (an extension
    // of the contract a loader may use; `wasm`/`buffWasm` are always there too).
    pkg.module = new WebAssembly.Module(pkg.buff);
  }
  return pkg;
}

function dropWarm(hash) {
  const entry = warm.get(hash);
  if (entry) {
    warm.delete(hash);
    entry.worker.removeAllListeners();
    entry.worker.on('error', () => {});
    entry.worker.terminate().catch(() => {});
  }
}

function newWorker(pkg) {
  const options = { eval: true, stdout: true, stderr: true };
  if (heapMb > 0) options.resourceLimits = { maxOldGenerationSizeMb: heapMb };
  const worker = new Worker(pkg.loader, options);
  // The loader's own console output must never reach our stdout (the protocol channel):
  // `stdout: true` gives us the stream; forward it to stderr, which Python keeps a tail of.
  worker.stdout.on('data', (chunk) => process.stderr.write(chunk));
  worker.stderr.on('data', (chunk) => process.stderr.write(chunk));
  return worker;
}

const MAX_WARM = 2; // warm workers per process: each holds a V8 isolate (and guest memory until GC)

async function dropIdle(exceptHash) {
  const waits = [];
  for (const [hash, entry] of warm) {
    if (hash !== exceptHash && !entry.busy) {
      warm.delete(hash);
      entry.worker.removeAllListeners();
      entry.worker.on('error', () => {});
      waits.push(entry.worker.terminate().catch(() => {}));
    }
  }
  await Promise.all(waits);
}

async function startWorker(pkg, hash) {
  if (warm.size >= MAX_WARM) await dropIdle(hash);
  try {
    return newWorker(pkg);
  } catch (err) {
    // Thread creation fails (EAGAIN) when idle workers hold the memory the cap allows:
    // free them and try once more.
    await dropIdle(null);
    return newWorker(pkg);
  }
}

async function run(req) {
  let pkg;
  try {
    pkg = getPackage(req.hash);
  } catch (err) {
    send({ op: 'result', id: req.id, error: `could not load the package: ${err.message}` });
    return;
  }
  let entry = warm.get(req.hash);
  if (!entry || entry.busy) {
    if (entry) dropWarm(req.hash); // never share a worker between two running tasks
    let worker;
    try {
      worker = await startWorker(pkg, req.hash);
    } catch (err) {
      send({ op: 'result', id: req.id, error: `could not start a worker thread for the loader (${err.message}): the process may be at its memory cap` });
      return;
    }
    if (earlyCancels.has(req.id)) {
      send({ op: 'result', id: req.id, error: earlyCancels.get(req.id) });
      earlyCancels.delete(req.id);
      worker.terminate().catch(() => {});
      return;
    }
    entry = { worker, busy: false };
    warm.set(req.hash, entry);
    const created = entry;
    // A warm worker that dies while idle must not be handed the next task.
    created.worker.on('exit', () => {
      if (warm.get(req.hash) === created) warm.delete(req.hash);
    });
    created.worker.on('error', () => {});
  }
  entry.busy = true;
  const worker = entry.worker;
  const body = Object.assign({}, req.body, {
    wasm: pkg.wasm,
    buffWasm: pkg.buff,
    module: pkg.module,
  });
  if (req.data_hash) {
    const zip = dataZips.get(req.data_hash);
    if (!zip) {
      entry.busy = false;
      send({ op: 'result', id: req.id, error: `data zip ${req.data_hash} was not sent to this worker process` });
      return;
    }
    body.data_zip = zip;
  }

  let done = false;
  let timer = null;
  const finish = (msg, keepWorker) => {
    if (done) return;
    done = true;
    if (timer) clearTimeout(timer);
    worker.off('message', onMessage);
    worker.off('error', onError);
    worker.off('exit', onExit);
    running.delete(req.id);
    if (keepWorker && warm.get(req.hash) === entry) {
      entry.busy = false;
    } else if (warm.get(req.hash) === entry) {
      dropWarm(req.hash);
    } else {
      worker.terminate().catch(() => {});
    }
    send(msg);
  };
  const onMessage = (m) => {
    if (!m || typeof m !== 'object' || typeof m.body !== 'string') {
      finish({ op: 'result', id: req.id, error: 'the loader posted a message that is not {body, stdout, stderr, exitCode}' }, false);
      return;
    }
    const result = {
      body: m.body,
      stdout: m.stdout == null ? '' : String(m.stdout),
      stderr: m.stderr == null ? '' : String(m.stderr),
      exitCode: Number.isInteger(m.exitCode) ? m.exitCode : 0,
    };
    // A failed task may leave the loader in a bad state (and a trapped guest's memory
    // alive until GC): only a worker whose task succeeded stays warm.
    finish({ op: 'result', id: req.id, result }, result.exitCode === 0);
  };
  const onError = (err) => {
    const text = err && err.stack ? err.stack : String(err);
    finish({ op: 'result', id: req.id, error: `the loader threw an uncaught error: ${text}` }, false);
  };
  const onExit = (code) => {
    finish({ op: 'result', id: req.id, error: `the loader's worker exited (code ${code}) before answering` }, false);
  };
  worker.on('message', onMessage);
  worker.on('error', onError);
  worker.on('exit', onExit);
  running.set(req.id, {
    finish: (why) => finish({ op: 'result', id: req.id, error: why }, false),
  });
  if (req.timeout_ms > 0) {
    timer = setTimeout(() => {
      finish({
        op: 'result',
        id: req.id,
        error: `deadline exceeded: the task ran longer than ${req.timeout_ms / 1000} s and was terminated`,
      }, false);
    }, req.timeout_ms);
  }
  try {
    worker.postMessage(body);
  } catch (err) {
    finish({ op: 'result', id: req.id, error: `could not post the task to the loader: ${err.message}` }, false);
  }
}

function handle(req) {
  switch (req.op) {
    case 'package': {
      const buff = Buffer.from(req.wasm, 'base64');
      packages.set(req.hash, { loader: req.loader, wasm: req.wasm, buff, module: null });
      break;
    }
    case 'forget':
      packages.delete(req.hash);
      dropWarm(req.hash);
      break;
    case 'data':
      dataZips.set(req.hash, Buffer.from(req.zip, 'base64'));
      break;
    case 'forget_data':
      dataZips.delete(req.hash);
      break;
    case 'run':
      run(req).catch((err) => send({ op: 'result', id: req.id, error: `worker process error: ${err.message}` }));
      break;
    case 'cancel': {
      const task = running.get(req.id);
      if (task) task.finish(req.reason || 'cancelled');
      else earlyCancels.set(req.id, req.reason || 'cancelled'); // still starting its worker
      break;
    }
    default:
      log(`pool.js: unknown op ${JSON.stringify(req.op)}`);
  }
}

function dispatch(req) {
  try {
    handle(req);
  } catch (err) {
    if (req && req.op === 'run') {
      send({ op: 'result', id: req.id, error: `worker process error: ${err.message}` });
    } else {
      log(`pool.js: ${err.stack || err}`);
    }
  }
}

function withBlobs(req, blobs) {
  // Blobs are the run request's preload files, in the order of its keys.
  const files = req.body && req.body.preload_files;
  if (files && typeof files === 'object') {
    Object.keys(files).forEach((path, i) => {
      files[path] = i < blobs.length ? blobs[i].toString('utf8') : null;
    });
  }
  return req;
}

// The stdin framing: lines, each perhaps followed by blobs of known byte lengths.
let lineParts = [];
let blobReq = null; // the request whose blobs are being read
let blobSizes = [];
let blobs = [];
let blob = null; // the blob being filled
let filled = 0;

function startBlobs(req, sizes) {
  blobReq = req;
  blobSizes = sizes.slice();
  blobs = [];
  nextBlob();
}

function nextBlob() {
  while (blobSizes.length && blobSizes[0] === 0) {
    blobSizes.shift();
    blobs.push(Buffer.alloc(0));
  }
  if (!blobSizes.length) {
    const req = withBlobs(blobReq, blobs);
    blobReq = null;
    blobs = [];
    blob = null;
    dispatch(req);
    return;
  }
  blob = Buffer.allocUnsafe(blobSizes.shift());
  filled = 0;
}

function onLine(line) {
  if (!line) return;
  let req;
  try {
    req = JSON.parse(line);
  } catch (err) {
    log(`pool.js: bad request line: ${err.message}`);
    return;
  }
  if (req && Array.isArray(req.blobs) && req.blobs.length) {
    startBlobs(req, req.blobs);
  } else {
    dispatch(req);
  }
}

process.stdin.on('data', (chunk) => {
  let pos = 0;
  while (pos < chunk.length) {
    if (blob) {
      const n = Math.min(blob.length - filled, chunk.length - pos);
      chunk.copy(blob, filled, pos, pos + n);
      filled += n;
      pos += n;
      if (filled === blob.length) {
        blobs.push(blob);
        nextBlob();
      }
      continue;
    }
    const nl = chunk.indexOf(10, pos);
    if (nl < 0) {
      lineParts.push(chunk.subarray(pos));
      break;
    }
    lineParts.push(chunk.subarray(pos, nl));
    const line = Buffer.concat(lineParts).toString('utf8');
    lineParts = [];
    pos = nl + 1;
    onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
});
// Python closing our stdin means the pool is shutting down: end with it.
process.stdin.on('end', () => process.exit(0));

send({ op: 'ready', pid: process.pid });
