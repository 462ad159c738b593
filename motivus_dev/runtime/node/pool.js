'use strict';
// One worker process of the Motivus local pool: it plays the platform's worker.
//
// The Python side (motivus_dev/runtime/node_process.py) starts it and talks to it over
// stdin/stdout; the messages and their framing are described, and owned, by
// motivus_dev/runtime/pipe.py. Each task runs its package's loader exactly as the
// platform's node worker does (src/sagas/processing.js + src/utils/common.js of its
// sources; shared spec worker-contract.md):
//   - the loader is decoded with Buffer.from(loader, 'base64').toString('ascii');
//   - it runs as `new Worker(loaderText, {eval: true, env: {}, name: tid})`;
//   - it is posted the task body once, with `buffWasm` = Buffer.from(wasm, 'base64');
//   - the FIRST message it posts is the answer; the worker is then terminated;
//   - the answer's body is handed to Python as JSON.stringify(body), the text the
//     platform's worker gzips; the wire encoding (base64(gzip(...))) is done by the side
//     that speaks Waterbear (motivus_dev/waterbear/codec.py), not here; stdout, stderr and
//     exitCode are passed through as the loader posted them;
//   - an uncaught error of the loader becomes {body: {}, stdout: null,
//     stderr: btoa(String(error)), exitCode: 1}.
// A new worker is started for every task, except for loaders that carry REUSE_MARKER
// (ours): those may stay warm for the next task of the same package, which they run in a
// fresh wasm instance. Two additions to the body, which the platform's loaders ignore:
// `data_zip` (the data_link archive, fetched and checked by the pool) and nothing else.

const { Worker } = require('worker_threads');

const REUSE_MARKER = 'motivus-loader:reusable';
const packages = new Map(); // hash -> {loaderText, loaderB64, wasm (base64), buff (Buffer), reusable}
const dataZips = new Map(); // hash -> Buffer
const warm = new Map(); // package hash -> {worker, busy}
const heapMb = Number(process.env.MOTIVUS_WORKER_HEAP_MB || 0);
// A profiling pool (`motivus profile`): every task in a new worker thread, profiled from its
// first line (profiler.js), the profile in its result; never a warm worker.
const profiler = process.env.MOTIVUS_PROFILE_TASKS === '1' ? require('./profiler') : null;
const profilerReady = profiler ? profiler.enable() : null;
const PROFILE_INTERVAL_US = 200; // V8's sampling interval: 5,000 samples a second
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
// The key every reply carries (pipe.py: the first request, read before any task exists).
// It lives only here, in the main thread: loaders' worker threads cannot read it, so a
// line they write to fd 1 is not a reply Python accepts.
let key = null;

function send(msg) {
  const result = msg.result;
  if (result && typeof result.body === 'string') {
    // The body (JSON text, megabytes for a big result file) goes raw after the line.
    const body = result.body;
    const head = Object.assign({}, msg, { result: Object.assign({}, result, { body: undefined }) });
    head.body_bytes = Buffer.byteLength(body, 'utf8');
    head.k = key;
    process.stdout.write(JSON.stringify(head) + '\n');
    process.stdout.write(body, 'utf8');
    return;
  }
  process.stdout.write(JSON.stringify(Object.assign({}, msg, { k: key })) + '\n');
}

function log(text) {
  process.stderr.write(String(text) + '\n');
}

function warn(text) {
  send({ op: 'warning', text });
}

function isBase64(value) {
  return typeof value === 'string' && value.length % 4 === 0 && BASE64.test(value);
}

function addPackage(req) {
  const raw = Buffer.from(req.loader, 'base64');
  const loaderText = raw.toString('ascii'); // as the platform's worker decodes it
  if (raw.some((b) => b >= 0x80)) {
    warn('a loader has bytes outside 7-bit ASCII: the platform\'s worker decodes loaders as ASCII, ' +
      'which corrupts them (rebuild the package; loaders must be ASCII)');
  }
  packages.set(req.hash, {
    loaderText,
    loaderB64: req.loader,
    wasm: req.wasm,
    buff: Buffer.from(req.wasm, 'base64'),
    reusable: loaderText.includes(REUSE_MARKER),
    held: profiler ? heldModule(req.wasm) : null,
  });
}

// A profiling pool runs every task in a new worker thread, whose first call of a long
// function would run in V8's baseline code to its end (wasm has no on-stack replacement).
// V8 shares a module's compiled code, tiered-up functions included, between the threads of
// a process that compile the same bytes while one of them holds it: the main thread holds it,
// so that a profile after a warm-up run shows the optimised code a warm worker runs.
function heldModule(wasmB64) {
  try {
    return new WebAssembly.Module(Buffer.from(wasmB64, 'base64'));
  } catch (err) {
    return null; // the loader reports what is wrong with the module
  }
}

function dropWarm(hash) {
  const entry = warm.get(hash);
  if (entry) {
    warm.delete(hash);
    stopWorker(entry.worker);
  }
}

const stopping = new Set(); // terminations under way: their memory is not free yet

function stopWorker(worker) {
  worker.removeAllListeners();
  worker.on('error', () => {});
  const done = worker.terminate().catch(() => {}).then(() => stopping.delete(done));
  stopping.add(done);
  return done;
}

function newWorker(pkg, tid) {
  const options = { eval: true, env: {}, name: tid, stdout: true, stderr: true };
  if (heapMb > 0) options.resourceLimits = { maxOldGenerationSizeMb: heapMb };
  const worker = new Worker(pkg.loaderText, options);
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
      waits.push(stopWorker(entry.worker));
    }
  }
  await Promise.all(waits);
}

async function startWorker(pkg, hash, tid) {
  if (warm.size >= MAX_WARM) await dropIdle(hash);
  // Thread creation fails (EAGAIN) while the memory the cap allows is still held: by idle
  // warm workers, or by a worker whose guest hit the cap and is still being torn down. Free
  // the first, wait for the second, and try again for a few seconds before giving up.
  const giveUp = Date.now() + 5000;
  for (let pause = 50; ; pause = Math.min(pause * 2, 800)) {
    try {
      return newWorker(pkg, tid);
    } catch (err) {
      if (Date.now() > giveUp) throw err;
      await dropIdle(null);
      await Promise.all([...stopping]);
      if (global.gc) global.gc();
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

// The time split our loaders post when asked (loader_js/timings.js): {phase: ms}.
function isTimings(value) {
  return !!value && typeof value === 'object' && !Array.isArray(value) &&
    Object.values(value).every((ms) => typeof ms === 'number' && isFinite(ms) && ms >= 0);
}

// The loader's first message, as the platform's worker forwards it; or why it cannot be.
function answerOf(m) {
  if (!m || typeof m !== 'object' || m.body === undefined) {
    let shown;
    try { shown = JSON.stringify(m); } catch (e) { shown = String(m); }
    return { error: `the loader posted a message without a body (${String(shown).slice(0, 200)}): ` +
      'the platform\'s worker crashes on it; post {body, stdout, stderr}' };
  }
  let body;
  try {
    body = JSON.stringify(m.body);
  } catch (err) {
    return { error: `the loader's body cannot be turned into JSON (${err.message})` };
  }
  if (typeof body !== 'string') {
    return { error: `the loader's body cannot be turned into JSON (it is ${typeof m.body})` };
  }
  for (const key of ['stdout', 'stderr']) {
    if (m[key] != null && !isBase64(m[key])) {
      warn(`a loader posted ${key} that is not base64: the published 2.4.0 client base64-decodes ` +
        `${key} and fails on it (binascii.Error); post btoa(text)`);
    }
  }
  const result = {
    body,
    stdout: m.stdout === undefined ? null : m.stdout,
    stderr: m.stderr === undefined ? null : m.stderr,
  };
  if (m.exitCode !== undefined) result.exitCode = m.exitCode;
  if (isTimings(m.timings)) result.timings = m.timings;
  return { result };
}

async function run(req) {
  const pkg = packages.get(req.hash);
  if (!pkg) {
    send({ op: 'result', id: req.id, error: `package ${req.hash} was not sent to this worker process` });
    return;
  }
  const tid = `task-${req.id}`;
  const reusable = pkg.reusable && !profiler;
  let profiled = null; // the profiled worker's inspector session
  let entry = reusable ? warm.get(req.hash) : undefined;
  if (!entry || entry.busy) {
    if (entry) dropWarm(req.hash); // never share a worker between two running tasks
    let worker;
    try {
      let attached = null;
      if (profiler) {
        await profilerReady;
        attached = profiler.nextWorker();
      }
      worker = await startWorker(pkg, req.hash, tid);
      if (attached) {
        profiled = await attached;
        await profiler.start(profiled, PROFILE_INTERVAL_US);
      }
    } catch (err) {
      send({ op: 'result', id: req.id, error: `could not start a worker thread for the loader (${err.message}): the process may be at its memory cap` });
      return;
    }
    entry = { worker, busy: false };
    if (reusable) {
      warm.set(req.hash, entry);
      const created = entry;
      // A warm worker that dies while idle must not be handed the next task.
      created.worker.on('exit', () => {
        if (warm.get(req.hash) === created) warm.delete(req.hash);
      });
    }
    entry.worker.on('error', () => {});
  }
  entry.busy = true;
  const worker = entry.worker;
  const body = Object.assign({}, req.body, {
    wasm: pkg.wasm,
    loader: pkg.loaderB64,
    buffWasm: pkg.buff,
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
    if (keepWorker && reusable && warm.get(req.hash) === entry) {
      entry.busy = false;
    } else if (warm.get(req.hash) === entry) {
      dropWarm(req.hash);
    } else {
      stopWorker(worker);
    }
    send(msg);
  };
  const onMessage = (m) => {
    const answer = answerOf(m);
    if (answer.error) {
      finish({ op: 'result', id: req.id, error: answer.error }, false);
      return;
    }
    // A failed task may leave the loader in a bad state (and a trapped guest's memory
    // alive until GC): only a worker whose task succeeded stays warm.
    if (profiled === null) {
      finish({ op: 'result', id: req.id, result: answer.result }, !answer.result.exitCode);
      return;
    }
    profiler.stop(profiled).then((profile) => {
      answer.result.profile = profile;
    }, (err) => {
      log(`pool.js: the profiler failed: ${err && err.message ? err.message : err}`);
    }).then(() => finish({ op: 'result', id: req.id, result: answer.result }, false));
  };
  const onError = (err) => {
    // The platform's worker: {body: {}, stdout: null, stderr: btoa(e.toString()), exitCode: 1}
    const text = String(err);
    finish({
      op: 'result',
      id: req.id,
      result: { body: '{}', stdout: null, stderr: Buffer.from(text).toString('base64'), exitCode: 1 },
    }, false);
  };
  const onExit = (code) => {
    finish({ op: 'result', id: req.id, error: `the loader's worker exited (code ${code}) before answering (on the platform the task would hang)` }, false);
  };
  worker.once('message', onMessage);
  worker.on('error', onError);
  worker.on('exit', onExit);
  if (req.timeout_ms > 0) {
    timer = setTimeout(() => {
      finish({
        op: 'result',
        id: req.id,
        error: `deadline exceeded: the task ran longer than ${req.deadline_s || req.timeout_ms / 1000} s and was terminated`,
      }, false);
    }, req.timeout_ms);
  }
  // Our loaders post the time split back (loader_js/timings.js); the platform's ignore this.
  body.motivus_timings = true;
  body.motivus_posted_at = performance.timeOrigin + performance.now();
  try {
    worker.postMessage(body);
  } catch (err) {
    finish({ op: 'result', id: req.id, error: `could not post the task to the loader: ${err.message}` }, false);
  }
}

function handle(req) {
  if (key === null) {
    if (!req || req.op !== 'hello' || typeof req.key !== 'string') {
      log('pool.js: the first request must be hello');
      process.exit(2);
    }
    key = req.key;
    send({ op: 'ready', pid: process.pid });
    return;
  }
  switch (req.op) {
    case 'package':
      addPackage(req);
      break;
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
