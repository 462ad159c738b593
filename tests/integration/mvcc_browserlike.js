// Runs a loader the way a browser's classic Web Worker would, inside node: a fresh vm context
// whose globals are only what a Web Worker has (self, postMessage, importScripts, location,
// fetch, Blob, Response, (De)CompressionStream, TextEncoder/Decoder, atob/btoa, crypto) and
// none of node's (no process, require, Buffer, module). Tasks are delivered through
// self.onmessage({data}). Usage: node mvcc_browserlike.js < spec.json, spec as for
// mvcc_harness.js (wasm_file / buffWasm_file / data_zip_file are resolved here too).
"use strict";
const fs = require("fs");
const vm = require("vm");

const spec = JSON.parse(fs.readFileSync(0, "utf8"));
const loaderText = fs.readFileSync(spec.loader, "utf8");
const posted = [];
const sandbox = {
  postMessage: (msg) => posted.push(msg),
  importScripts: () => {
    throw new Error("importScripts is not available in this test");
  },
  location: { href: "blob:null/motivus-test" },
  fetch, Blob, Response, CompressionStream, DecompressionStream, TextEncoder, TextDecoder,
  atob, btoa, crypto: globalThis.crypto, performance, console, setTimeout, clearTimeout,
};
const ctx = vm.createContext(sandbox);
vm.runInContext("self = this;", ctx);
vm.runInContext(loaderText, ctx, { filename: "loader.js" });
const InnerUint8Array = vm.runInContext("Uint8Array", ctx);

function inner(value) {
  return vm.runInContext("(" + JSON.stringify(value) + ")", ctx);
}

async function main() {
  const replies = [];
  for (const task of spec.tasks) {
    const body = inner(Object.assign({}, task, { wasm_file: undefined, buffWasm_file: undefined, data_zip_file: undefined }));
    if (task.wasm_file) body.wasm = fs.readFileSync(task.wasm_file).toString("base64");
    if (task.buffWasm_file) body.buffWasm = new InnerUint8Array(fs.readFileSync(task.buffWasm_file));
    if (task.data_zip_file) body.data_zip = new InnerUint8Array(fs.readFileSync(task.data_zip_file));
    const before = posted.length;
    ctx.self.onmessage({ data: body });
    const deadline = Date.now() + (spec.timeout_ms || 60000);
    while (posted.length === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    if (posted.length === before) {
      replies.push(null);
      break;
    }
    const msg = posted[before];
    const reply = { raw_keys: Object.keys(msg).sort(), stdout: msg.stdout, stderr: msg.stderr, exitCode: msg.exitCode, out: null };
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
  await new Promise((r) => setTimeout(r, 100));
  const answered = replies.filter((r) => r !== null).length;
  process.stdout.write(JSON.stringify({ replies, extra_messages: posted.length - answered, worker_error: null }));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
