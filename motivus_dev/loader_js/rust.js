/*
 * Motivus Rust loader harness, around wasm-bindgen's own glue (worker-contract.md).
 *
 * The kit concatenates, inside one function scope: common.js (the message loop and the
 * contract's encodings), then the wasm-bindgen CLI's `--target no-modules` glue wrapped in
 * motivusBindgen(console) (so each task gets a fresh glue, a fresh instance and a fresh JS
 * value heap, and the guest's console is the task's), then this file. The result is one
 * classic script, 7-bit ASCII, that runs as a browser Web Worker and as a node (16 or newer)
 * worker_threads worker created with {eval: true, env: {}}.
 *
 * Each task body ({params, wasm | buffWasm, entry?}) gets one reply {body: {data}, stdout,
 * stderr, exitCode}. The exported function is called as the platform calls it,
 * main.apply(null, params); the optional `entry` names another export. What the guest
 * writes with console.log/info/debug is the task's stdout, console.warn/error its stderr (a
 * panic with console_error_panic_hook installed arrives there as its message).
 * motivus-loader:reusable (a local pool may post it more than one task)
 */

var motivusCompiled = null; // the compiled module: a warm worker serves one package

/** A console whose output goes to the task's stdout or stderr. */
function motivusTaskConsole(out) {
  var util = motivusNodeRequire("util");
  function format(args) {
    if (util) {
      return util.format.apply(null, args);
    }
    return Array.prototype.map.call(args, function (a) {
      if (typeof a === "string") {
        return a;
      }
      try {
        return a instanceof Error ? String(a) : JSON.stringify(a);
      } catch (e) {
        return String(a);
      }
    }).join(" ");
  }
  function writer(key) {
    return function () {
      out[key] += format(arguments) + "\n";
    };
  }
  var quiet = function () {};
  return {
    log: writer("stdout"), info: writer("stdout"), debug: writer("stdout"), dir: writer("stdout"),
    table: writer("stdout"), warn: writer("stderr"), error: writer("stderr"), trace: writer("stderr"),
    assert: function (ok) {
      if (!ok) {
        out.stderr += "Assertion failed: " + format(Array.prototype.slice.call(arguments, 1)) + "\n";
      }
    },
    group: quiet, groupCollapsed: quiet, groupEnd: quiet, time: quiet, timeEnd: quiet,
    timeLog: quiet, count: quiet, countReset: quiet, clear: quiet
  };
}

/** What JSON can carry: 64-bit integers as numbers when exact (else decimal strings), typed
 * arrays as arrays, an exported Rust struct (a wasm-bindgen class instance, which holds only
 * a pointer) as the object of its getters: its public fields. */
function motivusJsonReplacer(_key, v) {
  if (typeof v === "bigint") {
    return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v.toString();
  }
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    return Array.from(v, function (x) {
      return typeof x === "bigint" ? motivusJsonReplacer("", x) : x;
    });
  }
  if (v !== null && typeof v === "object" && typeof v.__wbg_ptr === "number" && typeof v.toJSON !== "function") {
    var fields = {};
    var proto = Object.getPrototypeOf(v);
    Object.getOwnPropertyNames(proto).forEach(function (name) {
      var d = Object.getOwnPropertyDescriptor(proto, name);
      if (d && typeof d.get === "function") {
        fields[name] = v[name];
      }
    });
    return fields;
  }
  return v;
}

function motivusDescribe(e) {
  if (e instanceof Error) {
    return (e.name || "Error") + ": " + e.message;
  }
  if (typeof e === "string") {
    return e;
  }
  try {
    return JSON.stringify(e, motivusJsonReplacer);
  } catch (_) {
    return String(e);
  }
}

function motivusRunRust(body) {
  var out = { stdout: "", stderr: "" };
  function failed(e) {
    if (out.stderr && out.stderr.slice(-1) !== "\n") {
      out.stderr += "\n";
    }
    out.stderr += motivusDescribe(e) + "\n";
    return { out: {}, stdout: out.stdout, stderr: out.stderr, exitCode: 1 };
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
      if (motivusCompiled === null) {
        var bytes = body.buffWasm != null ? motivusToBytes(body.buffWasm, "buffWasm") : motivusB64Decode(body.wasm, "wasm");
        motivusCompiled = new WebAssembly.Module(bytes);
      }
      var bindgen = motivusBindgen(motivusTaskConsole(out));
      bindgen.initSync({ module: motivusCompiled });
      var entry = body.entry == null ? "main" : String(body.entry);
      var fn = Object.prototype.hasOwnProperty.call(bindgen, entry) ? bindgen[entry] : undefined;
      if (typeof fn !== "function" || entry === "initSync") {
        throw new Error("the package has no exported function " + JSON.stringify(entry));
      }
      return fn.apply(null, params);
    })
    .then(function (data) {
      // Through JSON once, so that the body is plain and a value JSON cannot carry fails
      // here with a reason.
      var value = JSON.parse(JSON.stringify({ data: data === undefined ? null : data }, motivusJsonReplacer));
      return { out: value, stdout: out.stdout, stderr: out.stderr, exitCode: 0 };
    }, failed)
    .catch(failed);
}

motivusServe(motivusRunRust);
