/*
 * Functions called by name: `params = ["fn", arg, ...]` calls the C function `fn` the wasm
 * module exports, with C arguments, and its return value becomes the task's `data`.
 */
"use strict";

/** The call `params = ["fn", arg, ...]` asks for, as a function of no arguments, or null when
 * main runs: params[0] names a function the wasm module exports, by its C name (`fn`, which
 * the glue calls `Module._fn`; a name that already starts with "_" may also be the glue's
 * name, `_fn`). The module's export list decides, not the glue's object: a build with
 * ASSERTIONS puts stubs and getters that abort on the names of runtime symbols it left out
 * (`Module._setNetworkCallback`). A program without main() must be called this way. */
function motivusExportedCall(program, wasmExports, params) {
  var name = Array.isArray(params) && typeof params[0] === "string" ? params[0] : null;
  var fn = null;
  if (name !== null && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name)) {
    if (wasmExports.indexOf(name) >= 0) {
      fn = motivusOwnFunction(program.module, "_" + name);
    } else if (name.charAt(0) === "_" && wasmExports.indexOf(name.substring(1)) >= 0) {
      fn = motivusOwnFunction(program.module, name);
    }
  }
  if (fn === null) {
    if (program.callMain === null) {
      throw new Error("the program has no main(), so params must name a function it exports: " +
        "[\"fn\", arg, ...]" + (name !== null ? " (it exports no " + JSON.stringify(name) + ")" : "") +
        "; exported: " + (motivusExportedNames(program.module, wasmExports).join(", ") || "none"));
    }
    return null;
  }
  var args = params.slice(1).map(function (value, i) {
    return motivusCArgument(program, name, value, i + 1);
  });
  return function () {
    return fn.apply(null, args);
  };
}

/** ``obj[key]`` when it is a function held as a plain value (not behind a getter). */
function motivusOwnFunction(obj, key) {
  var d = Object.getOwnPropertyDescriptor(obj, key);
  return d && typeof d.value === "function" ? d.value : null;
}

/** The functions a task can call by name: the module's exports that the glue exposes, less
 * the runtime's own (names starting with "_", emscripten_*, dynCall_*). */
function motivusExportedNames(exported, wasmExports) {
  return wasmExports.filter(function (name) {
    return !/^(_|emscripten_|dynCall_)/.test(name) && motivusOwnFunction(exported, "_" + name) !== null;
  }).sort();
}

/** One argument of an exported-function call, as C takes it: numbers as they are, booleans as
 * 1/0, null as 0 (NULL), strings as a NUL-terminated UTF-8 copy on the program's stack. */
function motivusCArgument(program, name, value, index) {
  if (typeof value === "number") {
    return value;
  }
  if (typeof value === "boolean") {
    return value ? 1 : 0;
  }
  if (value === null) {
    return 0;
  }
  if (typeof value === "string") {
    if (program.stringOnStack === null) {
      throw new Error("argument " + index + " of " + name + " is a string, but the program has no string " +
        "helper to pass it (it never takes arguments in main)");
    }
    return program.stringOnStack(value);
  }
  throw new Error("argument " + index + " of " + name + " is " + JSON.stringify(value) +
    ": a C function takes numbers, booleans, null and strings");
}

/** A C function's return value as JSON: numbers (an i64 as a number when exact, else a
 * decimal string), and null for void. */
function motivusJsonValue(value) {
  if (value === undefined || value === null) {
    return null;
  }
  if (typeof value === "bigint") {
    var n = Number(value);
    return Number.isSafeInteger(n) ? n : value.toString();
  }
  if (typeof value === "number" && !isFinite(value)) {
    return String(value);
  }
  return value;
}

module.exports = {
  motivusExportedCall: motivusExportedCall,
  motivusExportedNames: motivusExportedNames,
  motivusJsonValue: motivusJsonValue,
};
