/*
 * Inflating raw deflate data, bounded by what the archive declares.
 */
"use strict";

var motivusNodeRequire = require("./env").motivusNodeRequire;

/** Inflate a raw deflate stream (zip method 8) to at most `limit` bytes (a stream that
 * inflates to more is refused, not inflated: a zip's directory may lie about sizes). node's
 * zlib under node (node 16 has no DecompressionStream, and node without its experimental
 * fetch has no Response), else the browser's DecompressionStream('deflate-raw'). */
function motivusInflateRaw(bytes, limit) {
  var tooBig = new Error("a zip entry inflates to more than the " + limit + " bytes it declares");
  var zlib = motivusNodeRequire("zlib");
  if (zlib) {
    try {
      return Promise.resolve(new Uint8Array(zlib.inflateRawSync(bytes, { maxOutputLength: Math.max(1, limit + 1) })));
    } catch (e) {
      return Promise.reject(e && e.code === "ERR_BUFFER_TOO_LARGE" ? tooBig : e);
    }
  }
  if (typeof DecompressionStream !== "function" || typeof Blob !== "function") {
    return Promise.reject(new Error("this platform can not inflate deflate data (no DecompressionStream('deflate-raw'))"));
  }
  var reader = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw")).getReader();
  var out = new Uint8Array(limit);
  var got = 0;
  function pump() {
    return reader.read().then(function (step) {
      if (step.done) {
        return out.subarray(0, got);
      }
      if (got + step.value.length > limit) {
        reader.cancel();
        throw tooBig;
      }
      out.set(step.value, got);
      got += step.value.length;
      return pump();
    });
  }
  return pump();
}

module.exports = { motivusInflateRaw: motivusInflateRaw };
