/*
 * Bytes and text as the worker contract carries them: posted bytes in every shape a worker
 * may post, standard base64, and stdout/stderr as base64 of UTF-8 (worker-contract.md).
 */
"use strict";

/** Bytes from what a worker may post: Uint8Array/Buffer, ArrayBuffer, any view, an array
 * of numbers, or a JSON-serialised node Buffer ({type: "Buffer", data: [...]}). */
function motivusToBytes(x, what) {
  if (x instanceof Uint8Array) {
    return x;
  }
  if (x instanceof ArrayBuffer) {
    return new Uint8Array(x);
  }
  if (ArrayBuffer.isView(x)) {
    return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  }
  if (Array.isArray(x)) {
    return Uint8Array.from(x);
  }
  if (x && typeof x === "object" && x.type === "Buffer" && Array.isArray(x.data)) {
    return Uint8Array.from(x.data);
  }
  throw new Error((what || "value") + " is not bytes (expected a Uint8Array, Buffer or ArrayBuffer)");
}

var motivusB64Chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Decode standard base64 (whitespace tolerated); throws on anything else. */
function motivusB64Decode(s, what) {
  if (typeof s !== "string") {
    throw new Error((what || "value") + " is not a base64 string");
  }
  var clean = s.replace(/[\s]/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    throw new Error((what || "value") + " is not valid base64");
  }
  if (typeof Buffer === "function") {
    var b = Buffer.from(clean, "base64");
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  var bin = atob(clean);
  var out = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) {
    out[i] = bin.charCodeAt(i);
  }
  return out;
}

/** Encode bytes as standard base64. */
function motivusB64Encode(bytes) {
  if (typeof Buffer === "function") {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  }
  var parts = [];
  var chunk = 0x8000;
  for (var i = 0; i < bytes.length; i += chunk) {
    parts.push(String.fromCharCode.apply(null, bytes.subarray(i, i + chunk)));
  }
  return btoa(parts.join(""));
}

/** Text as the contract wants stdout/stderr: base64 of its UTF-8 bytes. */
function motivusTextB64(text) {
  return motivusB64Encode(new TextEncoder().encode(text));
}

/** UTF-8 bytes to a string (invalid sequences become U+FFFD). */
function motivusUtf8Decode(bytes) {
  return new TextDecoder("utf-8").decode(bytes);
}

module.exports = {
  motivusToBytes: motivusToBytes,
  motivusB64Decode: motivusB64Decode,
  motivusB64Encode: motivusB64Encode,
  motivusTextB64: motivusTextB64,
  motivusUtf8Decode: motivusUtf8Decode,
};
