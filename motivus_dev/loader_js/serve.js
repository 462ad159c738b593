/*
 * The loader's message loop (worker-contract.md): one reply per posted task body, in order,
 * {body, stdout, stderr, exitCode}, where body is a plain JSON value (the worker gzips and
 * base64s it, not the loader), stdout/stderr are base64 of the UTF-8 text (the 2.4.0 client
 * base64-decodes them) and exitCode an integer. The platform's worker takes the FIRST
 * message a loader posts as the answer and terminates it; a local pool may post a warm
 * loader more bodies, one after the other.
 */
"use strict";

var env = require("./env");
var motivusIsNode = env.motivusIsNode;
var motivusNodeRequire = env.motivusNodeRequire;
var motivusTextB64 = require("./bytes").motivusTextB64;

/** Serve task bodies: one reply per posted body, in order. runTask(body) resolves to
 * {out, stdout, stderr, exitCode} (out: the plain body; stdout/stderr: text); anything it
 * throws still becomes one failure reply. The worker may post more bodies to the same
 * loader (a local pool keeping it warm); the platform's worker posts one. */
function motivusServe(runTask) {
  var port = null;
  var post;
  if (motivusIsNode) {
    var wt = motivusNodeRequire("worker_threads");
    port = wt && wt.parentPort;
    if (!port) {
      throw new Error("this Motivus loader must run as a worker (worker_threads or a Web Worker)");
    }
    post = function (msg) {
      port.postMessage(msg);
    };
  } else {
    post = function (msg) {
      self.postMessage(msg);
    };
  }

  function reply(result) {
    var out = result.out;
    var stderr = result.stderr;
    var exitCode = result.exitCode;
    try {
      // What the worker will do with it: a value that JSON cannot carry fails here, with a
      // reason, rather than in the worker.
      JSON.stringify(out);
    } catch (e) {
      out = {};
      stderr += "motivus: the result is not JSON-serialisable: " + e + "\n";
      exitCode = exitCode || 1;
    }
    var msg = { body: out, stdout: motivusTextB64(result.stdout), stderr: motivusTextB64(stderr), exitCode: exitCode };
    if (result.timings !== undefined) {
      msg.timings = result.timings; // only for a body that asked (timings.js)
    }
    post(msg);
  }

  var queue = Promise.resolve();
  function onBody(body) {
    queue = queue
      .then(function () {
        return Promise.resolve()
          .then(function () {
            return runTask(body);
          })
          .catch(function (e) {
            return {
              out: {},
              stdout: "",
              stderr: "motivus: " + (e && e.message ? e.message : String(e)) + "\n",
              exitCode: 1,
            };
          });
      })
      .then(reply)
      .catch(function (e) {
        // Replying itself failed: still answer, in the platform's failure shape.
        post({ body: {}, stdout: "", stderr: btoa("motivus: could not reply: " + String(e).replace(/[^\x20-\x7e]/g, "?") + "\n"), exitCode: 1 });
      });
  }

  if (port) {
    port.on("message", onBody);
  } else {
    self.onmessage = function (event) {
      onBody(event.data);
    };
  }
}

module.exports = { motivusServe: motivusServe };
