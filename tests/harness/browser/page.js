/* Runs package loaders exactly as a browser worker of the cluster does
 * (shared/spec/worker-contract.md, point 1): the loader's text becomes a Blob, the Blob a
 * classic Web Worker, the task body is posted to it and its one reply is read.
 *
 * The test server provides:
 *   GET  tasks.json   [{"loader": URL, "wasm": URL, "buffWasmAs": "Uint8Array"|"ArrayBuffer",
 *                       "body": {params, arguments, preload_files, result_files, data_link}}, ...]
 *   POST results      receives {"results": [entry, ...]} (one entry per task, in order) or
 *                     {"fatal": str} when the page itself failed.
 * Each entry has the shape tests/harness/run_loader.js prints, so node's and the browser's
 * results compare directly:
 *   {"out": <decoded body>, "stdout": str, "stderr": str, "exitCode": int}
 * or {"harnessError": str} when the worker errored, timed out or replied in the wrong shape.
 */
"use strict";

var TASK_TIMEOUT_MS = 30000;

function post(payload) {
  return fetch("results", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
}

function fetchOk(url, how) {
  return fetch(url).then(function (r) {
    if (!r.ok) throw new Error("GET " + url + " failed: HTTP " + r.status);
    return how === "text" ? r.text() : how === "json" ? r.json() : r.arrayBuffer();
  });
}

function toBase64(bytes) {
  // btoa takes a binary string; build it in chunks so large modules do not overflow the stack.
  var parts = [];
  for (var i = 0; i < bytes.length; i += 0x8000) {
    parts.push(String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000)));
  }
  return btoa(parts.join(""));
}

function fromBase64(text) {
  var bin = atob(text);
  var out = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** body = base64(gzip(JSON)), decoded with the browser's own DecompressionStream. */
function decodeBody(body) {
  var stream = new Blob([fromBase64(body)]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).text().then(JSON.parse);
}

function checkShape(m) {
  if (!m || typeof m !== "object") return "reply is not an object";
  if (typeof m.body !== "string") return "reply.body is not a string";
  if (typeof m.stdout !== "string" && m.stdout !== null) return "reply.stdout is not a string";
  if (typeof m.stderr !== "string" && m.stderr !== null) return "reply.stderr is not a string";
  if (!Number.isInteger(m.exitCode)) return "reply.exitCode is not an integer";
  return null;
}

/** One task in a fresh worker made from the loader's text, as the cluster's browsers do. */
function runTask(loaderText, wasmBytes, task) {
  var body = Object.assign({}, task.body);
  body.wasm = toBase64(wasmBytes);
  // A copy per task: posting may not transfer, but the loader must not see shared state.
  var copy = new Uint8Array(wasmBytes);
  body.buffWasm = task.buffWasmAs === "ArrayBuffer" ? copy.buffer : copy;
  var url = URL.createObjectURL(new Blob([loaderText], { type: "text/javascript" }));
  var worker = new Worker(url);
  var replies = 0;
  var entry = new Promise(function (resolve) {
    var timer = setTimeout(function () {
      resolve({ harnessError: "no reply within " + TASK_TIMEOUT_MS + " ms" });
    }, TASK_TIMEOUT_MS);
    worker.onmessage = function (e) {
      // Every message is counted: the contract allows exactly one reply per task.
      if (++replies > 1) return;
      clearTimeout(timer);
      var m = e.data;
      var bad = checkShape(m);
      if (bad) return resolve({ harnessError: bad });
      decodeBody(m.body).then(
        function (out) { resolve({ out: out, stdout: m.stdout, stderr: m.stderr, exitCode: m.exitCode }); },
        function (err) { resolve({ harnessError: "body is not base64(gzip(JSON)): " + err }); });
    };
    worker.onerror = function (e) {
      clearTimeout(timer);
      e.preventDefault();
      resolve({ harnessError: "worker error: " + (e.message || e) });
    };
    worker.postMessage(body);
  });
  return entry.then(function (result) {
    // The worker stays alive until every task is done, so that a late second reply is seen;
    // finish() reads the count then.
    return {
      worker: worker,
      url: url,
      finish: function () {
        if (replies > 1) result.harnessError = "the loader sent " + (replies - 1) + " extra message(s)";
        return result;
      },
    };
  });
}

function main() {
  var cache = {};
  function get(url, how) {
    var key = how + " " + url;
    if (!cache[key]) cache[key] = fetchOk(url, how);
    return cache[key];
  }
  return fetchOk("tasks.json", "json").then(function (tasks) {
    var runs = [];
    return tasks.reduce(function (prev, task) {
      return prev.then(function () {
        return Promise.all([get(task.loader, "text"), get(task.wasm, "bytes")]);
      }).then(function (got) {
        return runTask(got[0], new Uint8Array(got[1]), task);
      }).then(function (run) {
        runs.push(run);
        document.getElementById("status").textContent = runs.length + " of " + tasks.length + " done";
      });
    }, Promise.resolve()).then(function () {
      return new Promise(function (resolve) { setTimeout(resolve, 300); });
    }).then(function () {
      var results = runs.map(function (run) { return run.finish(); });
      runs.forEach(function (run) { run.worker.terminate(); URL.revokeObjectURL(run.url); });
      return post({ results: results });
    });
  });
}

main().catch(function (e) {
  post({ fatal: String(e && e.stack ? e.stack : e) });
});
