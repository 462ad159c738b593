#!/usr/bin/env node
/* A reference Motivus worker: runs a package's loader the way the platform's worker does.
 *
 * Written by us from the worker contract (docs/loopback.md, "The worker contract"), not
 * copied from the platform. Run it as `node --no-experimental-fetch` so that, as on the
 * platform's node 16 workers, there is no global fetch.
 *
 * Usage:
 *   node --no-experimental-fetch tests/harness/reference_worker.js LOADER.js MODULE.wasm TASKS.json [options]
 *
 *   TASKS.json   a JSON array of task bodies ("-" reads stdin): params, arguments,
 *                preload_files, result_files, data_link (missing keys are null).
 *   options:
 *     --reuse          post every task to ONE worker, in order, taking one reply per task (a
 *                      local pool's warm worker; only for loaders that declare reuse). The
 *                      platform's way, the default, is a new worker per task.
 *     --wasm-only      leave `buffWasm` out of the body (a browser worker has none)
 *     --timeout MS     per-task deadline (default 60000)
 *
 * Per task, as the platform's worker: the loader is decoded with
 * Buffer.from(base64, "base64").toString("ascii"); it runs as
 * new Worker(text, {eval: true, env: {}, name: tid}); it is posted {run_type, params,
 * arguments, preload_files, result_files, data_link, wasm, loader, buffWasm}; its FIRST
 * message is the answer (later ones are counted as errors); an `error` event becomes
 * {body: {}, stdout: null, stderr: btoa(String(error)), exitCode: 1}; then the body is
 * encoded, base64(gzip(JSON.stringify(body))), and everything else is passed through.
 *
 * Prints one JSON array, one entry per task: {"payload": <what the worker would send, without
 * the ref>, "ms": number}, or {"harnessError": str} when there was no answer (a hang, a worker
 * that exited, a message without a body). Exit code 0 when every task was attempted, 2 on
 * bad usage.
 */
"use strict";
const fs = require("fs");
const zlib = require("zlib");
const { Worker } = require("worker_threads");

function usage(msg) {
  process.stderr.write((msg ? msg + "\n" : "") +
    "usage: node reference_worker.js LOADER.js MODULE.wasm TASKS.json [--reuse] [--wasm-only] [--timeout MS]\n");
  process.exit(2);
}

const argv = process.argv.slice(2);
const positional = [];
const opts = { reuse: false, wasmOnly: false, timeout: 60000 };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--reuse") opts.reuse = true;
  else if (a === "--wasm-only") opts.wasmOnly = true;
  else if (a === "--timeout") opts.timeout = Number(argv[++i]);
  else if (a.startsWith("--")) usage("unknown option " + a);
  else positional.push(a);
}
if (positional.length !== 3) usage();

let loaderB64, wasmB64, tasks;
try {
  loaderB64 = fs.readFileSync(positional[0]).toString("base64"); // as a task carries it
  wasmB64 = fs.readFileSync(positional[1]).toString("base64");
  tasks = JSON.parse(fs.readFileSync(positional[2] === "-" ? 0 : positional[2], "utf8"));
} catch (e) {
  usage(String(e));
}
if (!Array.isArray(tasks)) usage("TASKS.json must hold a JSON array of task bodies");

const loaderText = Buffer.from(loaderB64, "base64").toString("ascii");

function encode(body) {
  return zlib.gzipSync(Buffer.from(JSON.stringify(body))).toString("base64");
}

function taskBody(task) {
  const body = {
    run_type: "wasm",
    params: null,
    arguments: null,
    preload_files: null,
    result_files: null,
    data_link: null,
  };
  Object.assign(body, task, { wasm: wasmB64, loader: loaderB64 });
  if (!opts.wasmOnly) body.buffWasm = Buffer.from(wasmB64, "base64");
  return body;
}

let tid = 0;
function startWorker() {
  tid += 1;
  const worker = new Worker(loaderText, { eval: true, env: {}, name: "reference-" + tid, stdout: true });
  // The loader's console output is not part of its answer: keep it off our stdout (the report).
  worker.stdout.on("data", (chunk) => process.stderr.write(chunk));
  const state = { waiting: null, extra: 0, ended: null };
  worker.on("message", (m) => {
    if (!state.waiting) { state.extra += 1; return; }
    const w = state.waiting; state.waiting = null; w(m === undefined ? { __undefined: true } : m, null);
  });
  worker.on("error", (e) => {
    // The platform's worker turns an uncaught error into this message.
    const m = { body: {}, stdout: null, stderr: Buffer.from(String(e)).toString("base64"), exitCode: 1 };
    if (state.waiting) { const w = state.waiting; state.waiting = null; w(m, null); }
  });
  worker.on("exit", (code) => {
    state.ended = "the loader's worker exited with code " + code + " without answering";
    if (state.waiting) { const w = state.waiting; state.waiting = null; w(null, state.ended); }
  });
  return { worker, state };
}

function runOne(handle, task) {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve) => {
    if (handle.state.ended) { resolve({ harnessError: handle.state.ended }); return; }
    const timer = setTimeout(() => {
      handle.state.waiting = null;
      resolve({ harnessError: "no answer within " + opts.timeout + " ms (on the platform the task hangs)" });
    }, opts.timeout);
    handle.state.waiting = (m, err) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (err) { resolve({ harnessError: err, ms }); return; }
      if (m.__undefined || typeof m !== "object" || m === null || m.body === undefined) {
        resolve({ harnessError: "the loader posted a message without a body: " + JSON.stringify(m), ms });
        return;
      }
      const payload = Object.assign({}, m, { body: encode(m.body) });
      resolve({ payload, ms });
    };
    handle.worker.postMessage(taskBody(task));
  });
}

(async () => {
  const results = [];
  let shared = null;
  for (const task of tasks) {
    const handle = opts.reuse ? (shared = shared && !shared.state.ended ? shared : startWorker()) : startWorker();
    results.push(await runOne(handle, task));
    if (!opts.reuse) {
      await new Promise((r) => setTimeout(r, 10)); // a second message would arrive now
      if (handle.state.extra) results[results.length - 1].extraMessages = handle.state.extra;
      await handle.worker.terminate();
    }
  }
  if (shared) {
    await new Promise((r) => setTimeout(r, 20));
    if (shared.state.extra) results.push({ harnessError: "the loader sent " + shared.state.extra + " extra message(s)" });
    await shared.worker.terminate();
  }
  process.stdout.write(JSON.stringify(results) + "\n");
})().catch((e) => { process.stderr.write(String(e && e.stack || e) + "\n"); process.exit(2); });
