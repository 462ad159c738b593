/*
 * Motivus loader, Rust part (mvrc), around wasm-bindgen's own glue (worker-contract.md).
 *
 * `bindgen(console)` is what the kit generates around the wasm-bindgen CLI's
 * `--target no-modules` glue (rust/bindgen, see motivus_dev/toolchain/loader.py): each task
 * gets a fresh glue, a fresh instance and a fresh JS value heap, and the guest's console is
 * the task's.
 *
 * Each task body ({params, wasm | buffWasm, entry?}) gets one reply {body: {data}, stdout,
 * stderr, exitCode}. The exported function is called as the platform calls it,
 * main.apply(null, params); the optional `entry` names another export. What the guest
 * writes with console.log/info/debug is the task's stdout, console.warn/error its stderr (a
 * panic with console_error_panic_hook installed arrives there as its message).
 */
"use strict";

var bytes = require("../bytes");
var motivusToBytes = bytes.motivusToBytes;
var motivusB64Decode = bytes.motivusB64Decode;
var motivusServe = require("../serve").motivusServe;
var motivusTaskConsole = require("./console").motivusTaskConsole;
var json = require("./json");
var motivusJsonReplacer = json.motivusJsonReplacer;
var motivusDescribe = json.motivusDescribe;
var timings = require("../timings");
var motivusTimings = timings.motivusTimings;
var motivusWithTimings = timings.motivusWithTimings;

var motivusCompiled = null; // the compiled module: a warm worker serves one package

/** Run one task body with the glue `bindgen`; resolves to {out, stdout, stderr, exitCode}. */
function motivusRunRust(bindgenOf, body) {
  var out = { stdout: "", stderr: "" };
  var clock = motivusTimings(body);
  function failed(e) {
    if (out.stderr && out.stderr.slice(-1) !== "\n") {
      out.stderr += "\n";
    }
    out.stderr += motivusDescribe(e) + "\n";
    return motivusWithTimings({ out: {}, stdout: out.stdout, stderr: out.stderr, exitCode: 1 }, clock);
  }
  return Promise.resolve()
    .then(function () {
      if (!body || typeof body !== "object") {
        throw new Error("the task body is not an object");
      }
      var params = body.params == null ? [] : body.params;
      if (!Array.isArray(params)) {
        throw new Error("params must be a list, got " + JSON.stringify(params));
      }
      clock.lap("input");
      if (motivusCompiled === null) {
        var bytes = body.buffWasm != null ? motivusToBytes(body.buffWasm, "buffWasm") : motivusB64Decode(body.wasm, "wasm");
        motivusCompiled = new WebAssembly.Module(bytes);
      }
      var bindgen = bindgenOf(motivusTaskConsole(out));
      bindgen.initSync({ module: motivusCompiled });
      var entry = body.entry == null ? "main" : String(body.entry);
      var fn = Object.prototype.hasOwnProperty.call(bindgen, entry) ? bindgen[entry] : undefined;
      if (typeof fn !== "function" || entry === "initSync") {
        throw new Error("the package has no exported function " + JSON.stringify(entry));
      }
      clock.lap("instantiate");
      var data = fn.apply(null, params);
      clock.lap("call");
      return data;
    })
    .then(function (data) {
      // Through JSON once, so that the body is plain and a value JSON cannot carry fails
      // here with a reason.
      var value = JSON.parse(JSON.stringify({ data: data === undefined ? null : data }, motivusJsonReplacer));
      clock.lap("output");
      return motivusWithTimings({ out: value, stdout: out.stdout, stderr: out.stderr, exitCode: 0 }, clock);
    }, failed)
    .catch(failed);
}

/** Serve tasks with the glue `bindgenOf`: the loader's entry point. */
function motivusStartRust(bindgenOf) {
  motivusServe(function (body) {
    return motivusRunRust(bindgenOf, body);
  });
}

module.exports = { motivusRunRust: motivusRunRust, motivusStartRust: motivusStartRust };
