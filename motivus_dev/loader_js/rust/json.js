/*
 * A Rust function's value as JSON, and an error as text.
 */
"use strict";

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

module.exports = { motivusJsonReplacer: motivusJsonReplacer, motivusDescribe: motivusDescribe };
