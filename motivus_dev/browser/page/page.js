/* Runs package loaders as a browser worker of the cluster does (the worker contract in
 * docs/loopback.md): the loader's bytes are decoded as ASCII, the text becomes a Blob, the
 * Blob a classic Web Worker, the task body is posted to it once and its first reply is read.
 *
 * The page server (motivus_dev/browser/page_server.py) provides:
 *   GET  tasks.json   [{"loader": URL, "wasm": URL, "buffWasmAs": "Uint8Array"|"ArrayBuffer",
 *                       "timeout_ms": N (optional, default 30000),
 *                       "body": {params, arguments, preload_files, result_files, data_link}}, ...]
 *   POST results      receives {"results": [entry, ...]} (one entry per task, in order) or
 *                     {"fatal": str} when the page itself failed.
 * Each entry has the shape the kit reads node's results in, so node's and the browser's
 * results compare directly:
 *   {"out": <the loader's body>, "stdout": str, "stderr": str, "exitCode": int or null}
 * (stdout/stderr decoded from the base64 the contract asks for).
 * or {"harnessError": str} when the worker errored, timed out or replied in the wrong shape.
 */
"use strict";

var DEFAULT_TIMEOUT_MS = 30000;

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

/** Text from the base64 of its UTF-8 bytes; null stays "". */
function decodeText(b64) {
  return b64 == null ? "" : new TextDecoder("utf-8").decode(fromBase64(b64));
}

/** As the platform's worker decodes a loader: Buffer#toString("ascii") (high bit dropped). */
function asciiText(bytes) {
  var parts = [];
  for (var i = 0; i < bytes.length; i += 0x8000) {
    parts.push(String.fromCharCode.apply(null, Array.prototype.map.call(bytes.subarray(i, i + 0x8000), function (b) {
      return b & 0x7f;
    })));
  }
  return parts.join("");
}

var BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function checkShape(m) {
  if (!m || typeof m !== "object") return "reply is not an object";
  if (m.body === undefined) return "reply has no body";
  if (m.stdout !== null && !(typeof m.stdout === "string" && BASE64.test(m.stdout))) return "reply.stdout is not base64";
  if (m.stderr !== null && !(typeof m.stderr === "string" && BASE64.test(m.stderr))) return "reply.stderr is not base64";
  if (m.exitCode !== undefined && !Number.isInteger(m.exitCode)) return "reply.exitCode is not an integer";
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
  var timeoutMs = task.timeout_ms || DEFAULT_TIMEOUT_MS;
  var entry = new Promise(function (resolve) {
    var timer = setTimeout(function () {
      resolve({ harnessError: "no reply within " + timeoutMs + " ms" });
    }, timeoutMs);
    worker.onmessage = function (e) {
      // Every message is counted: the contract allows exactly one reply per task.
      if (++replies > 1) return;
      clearTimeout(timer);
      var m = e.data;
      var bad = checkShape(m);
      if (bad) return resolve({ harnessError: bad });
      var out;
      try {
        out = JSON.parse(JSON.stringify(m.body)); // what the worker sends on: its JSON
      } catch (err) {
        return resolve({ harnessError: "body is not JSON: " + err });
      }
      resolve({ out: out, stdout: decodeText(m.stdout), stderr: decodeText(m.stderr),
                exitCode: m.exitCode === undefined ? null : m.exitCode });
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
        return Promise.all([get(task.loader, "bytes"), get(task.wasm, "bytes")]);
      }).then(function (got) {
        return runTask(asciiText(new Uint8Array(got[0])), new Uint8Array(got[1]), task);
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
