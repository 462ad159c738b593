#!/usr/bin/env node
/* Run a Motivus package loader exactly as a node worker does (shared/spec/worker-contract.md).
 *
 * Usage:
 *   node tests/harness/run_loader.js LOADER.js MODULE.wasm TASKS.json [options]
 *
 *   TASKS.json   a JSON array of task bodies ("-" reads it from stdin), e.g.
 *                [{"params": [[[1, 2], [3, 4]], 2]}, {"arguments": ["-v"], "result_files": {"/out.txt": "out.txt"}}]
 *                Each body is posted as is (params, arguments, preload_files, result_files,
 *                data_link, entry ...), with `wasm` (base64) and `buffWasm` (a Buffer) added.
 *   options:
 *     --fresh          a new worker per task (default: all tasks go to ONE worker, in order)
 *     --wasm-only      send only `wasm` (base64), no `buffWasm`
 *     --buff-only      send only `buffWasm`, no `wasm`
 *     --timeout MS     per-task deadline (default 60000); the worker is terminated after it
 *
 * The loader text is run with `new Worker(loaderText, {eval: true})`. For each task the harness
 * reads the one reply, checks its shape {body, stdout, stderr, exitCode}, decodes
 * body = base64(gzip(JSON)) and prints one JSON array to stdout, one entry per task:
 *   {"out": <decoded body object>, "stdout": str, "stderr": str, "exitCode": int, "ms": number}
 * A reply of the wrong shape, a second reply, or a timeout is reported as an entry with
 * "harnessError": str. The harness exits 0 when it could run every task (whatever the tasks'
 * exit codes), 2 on bad usage or an unreadable file.
 */
"use strict";
const fs = require("fs");
const zlib = require("zlib");
const { Worker } = require("worker_threads");

function usage(msg) {
  process.stderr.write((msg ? msg + "\n" : "") +
    "usage: node run_loader.js LOADER.js MODULE.wasm TASKS.json [--fresh] [--wasm-only|--buff-only] [--timeout MS]\n");
  process.exit(2);
}

const argv = process.argv.slice(2);
const positional = [];
const opts = { fresh: false, wasmOnly: false, buffOnly: false, timeout: 60000 };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--fresh") opts.fresh = true;
  else if (a === "--wasm-only") opts.wasmOnly = true;
  else if (a === "--buff-only") opts.buffOnly = true;
  else if (a === "--timeout") opts.timeout = Number(argv[++i]);
  else if (a.startsWith("--")) usage("unknown option " + a);
  else positional.push(a);
}
if (positional.length !== 3) usage();

let loaderText, wasm, tasks;
try {
  loaderText = fs.readFileSync(positional[0], "utf8");
  wasm = fs.readFileSync(positional[1]);
  tasks = JSON.parse(fs.readFileSync(positional[2] === "-" ? 0 : positional[2], "utf8"));
} catch (e) {
  usage(String(e));
}
if (!Array.isArray(tasks)) usage("TASKS.json must hold a JSON array of task bodies");
const wasmBase64 = wasm.toString("base64");

function checkShape(m) {
  if (!m || typeof m !== "object") return "reply is not an object";
  if (typeof m.body !== "string") return "reply.body is not a string";
  if (typeof m.stdout !== "string" && m.stdout !== null) return "reply.stdout is not a string";
  if (typeof m.stderr !== "string" && m.stderr !== null) return "reply.stderr is not a string";
  if (!Number.isInteger(m.exitCode)) return "reply.exitCode is not an integer";
  return null;
}

function newWorker() {
  const w = new Worker(loaderText, { eval: true });
  const state = { pending: null, dead: null };
  w.on("message", (m) => {
    if (!state.pending) { state.extra = (state.extra || 0) + 1; return; }
    const p = state.pending; state.pending = null; p.resolve(m);
  });
  w.on("error", (e) => {
    state.dead = "worker error: " + (e && e.stack || e);
    if (state.pending) { const p = state.pending; state.pending = null; p.reject(new Error(state.dead)); }
  });
  w.on("exit", (code) => {
    state.dead = state.dead || "worker exited with code " + code;
    if (state.pending) { const p = state.pending; state.pending = null; p.reject(new Error(state.dead)); }
  });
  return { w, state };
}

function runOne(worker, task) {
  const body = Object.assign({}, task);
  if (!opts.buffOnly) body.wasm = wasmBase64;
  if (!opts.wasmOnly) body.buffWasm = Buffer.from(wasm);
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    if (worker.state.dead) return reject(new Error(worker.state.dead));
    const timer = setTimeout(() => {
      worker.state.pending = null;
      worker.w.terminate();
      reject(new Error("no reply within " + opts.timeout + " ms"));
    }, opts.timeout);
    worker.state.pending = {
      resolve: (m) => { clearTimeout(timer); resolve(m); },
      reject: (e) => { clearTimeout(timer); reject(e); },
    };
    worker.w.postMessage(body);
  }).then((m) => {
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const bad = checkShape(m);
    if (bad) return { harnessError: bad, raw: m, ms };
    let out;
    try {
      out = JSON.parse(zlib.gunzipSync(Buffer.from(m.body, "base64")).toString("utf8"));
    } catch (e) {
      return { harnessError: "body is not base64(gzip(JSON)): " + e.message, stdout: m.stdout, stderr: m.stderr, exitCode: m.exitCode, ms };
    }
    return { out, stdout: m.stdout, stderr: m.stderr, exitCode: m.exitCode, ms };
  }, (e) => ({ harnessError: e.message }));
}

(async () => {
  const results = [];
  let worker = null;
  for (const task of tasks) {
    if (!worker || opts.fresh || worker.state.dead) {
      if (worker) await worker.w.terminate();
      worker = newWorker();
    }
    results.push(await runOne(worker, task));
  }
  // Give a misbehaving loader a moment to send an unexpected extra reply.
  await new Promise((r) => setTimeout(r, 20));
  if (worker && worker.state.extra) results.push({ harnessError: "the loader sent " + worker.state.extra + " extra message(s)" });
  if (worker) await worker.w.terminate();
  process.stdout.write(JSON.stringify(results) + "\n");
})().catch((e) => { process.stderr.write(String(e && e.stack || e) + "\n"); process.exit(2); });
