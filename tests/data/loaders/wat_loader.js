// A hand-written Motivus loader for the runtime's tests (worker contract, docs/loopback.md).
// motivus-loader:reusable (it serves every body posted to it, so a local pool may keep it warm)
//
// A classic script run as `new Worker(text, {eval: true, env: {}})`. For each task body it
// gets (a warm worker gets several), it instantiates the module afresh, builds a fresh
// in-memory filesystem (the data_zip entries first, then preload_files), calls the export
// `main` with `params`, and answers ONE message {body (plain JSON), stdout (base64),
// stderr (base64), exitCode}.
//
// Module ABI (the tests' WAT modules): optional import env.print(ptr, len) /
// env.eprint(ptr, len) writing UTF-8 to stdout/stderr; exports `memory`, optional
// `main(...numbers) -> number`, optional `copy(src, len, dst)`. Result file R is produced
// by running the bytes of R (or, if absent, of R with a leading /out/ replaced by /in/)
// through `copy` in guest memory, so file contents really pass through wasm.
'use strict';
const zlib = require('zlib');
const { parentPort } = require('worker_threads');

function unzip(buf) {
  const files = new Map();
  let eocd = -1;
  for (let i = buf.length - 22; i >= 0 && i >= buf.length - 65557; i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('data_zip: no end of central directory');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error('data_zip: bad central directory');
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const nlen = buf.readUInt16LE(p + 28);
    const xlen = buf.readUInt16LE(p + 30);
    const clen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nlen);
    p += 46 + nlen + xlen + clen;
    if (name.endsWith('/')) continue;
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(start, start + csize);
    files.set('/' + name, method === 0 ? Buffer.from(raw) : zlib.inflateRawSync(raw));
  }
  return files;
}

let served = 0; // tasks this worker has run: lets tests see warm reuse

function runTask(task) {
  served += 1;
  let stdout = '';
  let stderr = '';
  // `_served` is for the tests only (real loaders return just data and result files).
  const out = { data: null, _served: served };
  let exitCode = 0;
  let memory = null;
  try {
    const bytes = task.buffWasm ? Buffer.from(task.buffWasm) : Buffer.from(task.wasm, 'base64');
    const module = new WebAssembly.Module(bytes);
    const text = (ptr, len) => Buffer.from(memory.buffer, ptr, len).toString('utf8');
    const instance = new WebAssembly.Instance(module, {
      env: {
        print: (ptr, len) => { stdout += text(ptr, len); },
        eprint: (ptr, len) => { stderr += text(ptr, len); },
      },
    });
    const ex = instance.exports;
    memory = ex.memory;
    const fs = task.data_zip ? unzip(Buffer.from(task.data_zip)) : new Map();
    for (const [path, b64] of Object.entries(task.preload_files || {})) {
      fs.set(path, Buffer.from(b64, 'base64'));
    }
    if (typeof ex.main === 'function') {
      const args = (task.params || []).map((v) => (typeof v === 'number' ? v : Number(v)));
      const value = ex.main(...args);
      out.data = typeof value === 'bigint' ? Number(value) : (value === undefined ? null : value);
    }
    for (const path of Object.keys(task.result_files || {})) {
      const src = fs.has(path) ? fs.get(path) : fs.get(path.replace(/^\/out\//, '/in/'));
      if (src === undefined) throw new Error(`result file ${path} was not produced`);
      if (typeof ex.copy !== 'function') throw new Error('this module has no copy export for result files');
      const need = 1024 + 2 * src.length;
      if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
      Buffer.from(memory.buffer).set(src, 1024);
      ex.copy(1024, src.length, 1024 + src.length);
      out[path] = Buffer.from(memory.buffer, 1024 + src.length, src.length).toString('base64');
    }
  } catch (err) {
    exitCode = 1;
    stderr += `${err && err.name}: ${err && err.message}\n`;
    if (memory) stderr += `guest memory at failure: ${memory.buffer.byteLength / 65536} pages\n`;
  }
  const b64 = (text) => Buffer.from(text, 'utf8').toString('base64');
  return { body: out, stdout: b64(stdout), stderr: b64(stderr), exitCode };
}

parentPort.on('message', (task) => parentPort.postMessage(runTask(task)));
