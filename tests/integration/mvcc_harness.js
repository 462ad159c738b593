// Minimal worker-contract harness for the mvcc tests (the shared one will live in
// tests/harness/). Usage: node mvcc_harness.js < spec.json
//   spec = {loader: "/path/module.js", tasks: [task, ...]}
// Each task is a task body as the worker contract describes, plus these conveniences that the
// harness resolves before posting: wasm_file (-> wasm, base64), buffWasm_file (-> buffWasm,
// a Buffer), data_zip_file (-> data_zip, a Buffer). All tasks go to ONE worker created with
// new Worker(loaderText, {eval: true}), one after another; the harness prints
// {replies: [{out, stdout, stderr, exitCode, raw_keys}], extra_messages, worker_error}.
// spec.prelude: optional JS run in the worker before the loader.
"use strict";
const fs = require("fs");
const { Worker } = require("worker_threads");

const spec = JSON.parse(fs.readFileSync(0, "utf8"));
// spec.prelude (optional) runs first in the worker, e.g. to hide a global and test a fallback.
const loaderText = (spec.prelude || "") + fs.readFileSync(spec.loader, "utf8");
const worker = new Worker(loaderText, { eval: true });
const replies = [];
let pending = null;
let extra = 0;
let workerError = null;

worker.on("message", (msg) => {
  if (!pending) {
    extra += 1;
    return;
  }
  const done = pending;
  pending = null;
  done(msg);
});
worker.on("error", (err) => {
  workerError = String(err && err.stack ? err.stack : err);
  if (pending) {
    const done = pending;
    pending = null;
    done(null);
  }
});

function prepare(task) {
  const body = Object.assign({}, task);
  if (body.wasm_file) {
    body.wasm = fs.readFileSync(body.wasm_file).toString("base64");
    delete body.wasm_file;
  }
  if (body.buffWasm_file) {
    body.buffWasm = fs.readFileSync(body.buffWasm_file);
    delete body.buffWasm_file;
  }
  if (body.data_zip_file) {
    body.data_zip = fs.readFileSync(body.data_zip_file);
    delete body.data_zip_file;
  }
  return body;
}

async function main() {
  for (const task of spec.tasks) {
    const msg = await new Promise((resolve) => {
      pending = resolve;
      const timer = setTimeout(() => {
        if (pending === resolve) {
          pending = null;
          resolve(null);
        }
      }, spec.timeout_ms || 60000);
      timer.unref();
      worker.postMessage(prepare(task));
    });
    if (msg === null) {
      replies.push(null);
      break;
    }
    const reply = {
      raw_keys: Object.keys(msg).sort(),
      stdout: msg.stdout,
      stderr: msg.stderr,
      exitCode: msg.exitCode,
      out: null,
    };
    // The contract: body a plain JSON value (the worker encodes it), stdout/stderr base64.
    try {
      reply.out = JSON.parse(JSON.stringify(msg.body));
      for (const key of ["stdout", "stderr"]) {
        if (typeof msg[key] !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(msg[key]) || msg[key].length % 4) {
          throw new Error(key + " is not base64: " + JSON.stringify(msg[key]));
        }
        reply[key] = Buffer.from(msg[key], "base64").toString("utf8");
      }
    } catch (e) {
      reply.body_error = String(e);
    }
    replies.push(reply);
  }
  // Anything posted after the last reply breaks "one message per task".
  await new Promise((r) => setTimeout(r, 100));
  await worker.terminate();
  process.stdout.write(JSON.stringify({ replies, extra_messages: extra, worker_error: workerError }));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
