/*
 * Reading a zip archive: the packed starting filesystem (NAME-VERSION.data.zip).
 */
"use strict";

var motivusInflateRaw = require("./inflate").motivusInflateRaw;

/** Read a zip archive (stored and deflate entries; no zip64, no encryption).
 * Returns the entries in archive order: {name, dir, data}. */
function motivusReadZip(bytes) {
  var view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  var n = bytes.length;
  // The end-of-central-directory record is in the last 22 + 65535 bytes.
  var eocd = -1;
  for (var i = n - 22; i >= 0 && i >= n - 22 - 65535; i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    return Promise.reject(new Error("the filesystem archive is not a zip file (no end of central directory)"));
  }
  var count = view.getUint16(eocd + 10, true);
  var cdOffset = view.getUint32(eocd + 16, true);
  var entries = [];
  var pos = cdOffset;
  var textDecoder = new TextDecoder("utf-8");
  try {
    for (var k = 0; k < count; k++) {
      if (pos + 46 > n || view.getUint32(pos, true) !== 0x02014b50) {
        throw new Error("the filesystem archive's central directory is damaged");
      }
      var flags = view.getUint16(pos + 8, true);
      var method = view.getUint16(pos + 10, true);
      var csize = view.getUint32(pos + 20, true);
      var usize = view.getUint32(pos + 24, true);
      var nameLen = view.getUint16(pos + 28, true);
      var extraLen = view.getUint16(pos + 30, true);
      var commentLen = view.getUint16(pos + 32, true);
      var local = view.getUint32(pos + 42, true);
      var name = textDecoder.decode(bytes.subarray(pos + 46, pos + 46 + nameLen));
      pos += 46 + nameLen + extraLen + commentLen;
      if (flags & 1) {
        throw new Error("zip entry " + name + " is encrypted");
      }
      if (local + 30 > n || view.getUint32(local, true) !== 0x04034b50) {
        throw new Error("zip entry " + name + " has no local header");
      }
      var dataStart = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
      if (dataStart + csize > n) {
        throw new Error("zip entry " + name + " is truncated");
      }
      entries.push({
        name: name,
        dir: name.charAt(name.length - 1) === "/",
        method: method,
        usize: usize,
        raw: bytes.subarray(dataStart, dataStart + csize),
      });
    }
  } catch (e) {
    return Promise.reject(e);
  }
  return entries.reduce(function (chain, entry) {
    return chain.then(function (done) {
      var p;
      if (entry.method === 0) {
        p = Promise.resolve(entry.raw);
      } else if (entry.method === 8) {
        p = motivusInflateRaw(entry.raw, entry.usize);
      } else {
        return Promise.reject(new Error("zip entry " + entry.name + " uses compression method " + entry.method + " (only stored and deflate are supported)"));
      }
      return p.then(function (data) {
        if (data.length !== entry.usize) {
          throw new Error("zip entry " + entry.name + " inflated to " + data.length + " bytes, expected " + entry.usize);
        }
        done.push({ name: entry.name, dir: entry.dir, data: data });
        return done;
      });
    });
  }, Promise.resolve([]));
}

module.exports = { motivusReadZip: motivusReadZip };
