/*
 * Motivus loader runtime shared by the generated loaders (worker-contract.md).
 *
 * A plain script fragment, not a module: a toolchain concatenates it, inside one function
 * scope, with the language part (c.js for mvcc) so that the loader stays ONE classic script
 * that runs both as a browser Web Worker and as a node worker_threads `eval` worker. Only
 * node built-ins are required, and only when running under node.
 *
 * Defines (all prefixed `motivus`):
 *   motivusIsNode, motivusNodeRequire(name)
 *   motivusToBytes(x), motivusB64Decode(s), motivusB64Encode(bytes), motivusUtf8Decode(bytes)
 *   motivusGzip(bytes) -> Promise<Uint8Array>, motivusInflateRaw(bytes) -> Promise<Uint8Array>
 *   motivusReadZip(bytes) -> Promise<[{name, dir, data}]>
 *   motivusFetchBytes(link) -> Promise<Uint8Array>
 *   motivusServe(runTask): the message loop; runTask(body) -> Promise<{out, stdout, stderr, exitCode}>
 */

var motivusIsNode =
  typeof process === "object" &&
  process !== null &&
  typeof process.versions === "object" &&
  process.versions !== null &&
  typeof process.versions.node === "string";

/** A node built-in module, or null outside node. */
function motivusNodeRequire(name) {
  if (!motivusIsNode || typeof require !== "function") {
    return null;
  }
  return require(name);
}

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

/** UTF-8 bytes to a string (invalid sequences become U+FFFD). */
function motivusUtf8Decode(bytes) {
  return new TextDecoder("utf-8").decode(bytes);
}

/** Run bytes through a CompressionStream / DecompressionStream. */
function motivusStream(stream, bytes) {
  var response = new Response(new Blob([bytes]).stream().pipeThrough(stream));
  return response.arrayBuffer().then(function (buf) {
    return new Uint8Array(buf);
  });
}

/** gzip: node's zlib when running under node (synchronous, fast), else CompressionStream. */
function motivusGzip(bytes) {
  var zlib = motivusNodeRequire("zlib");
  if (zlib) {
    return Promise.resolve(new Uint8Array(zlib.gzipSync(bytes)));
  }
  return motivusStream(new CompressionStream("gzip"), bytes);
}

/** Inflate a raw deflate stream (zip method 8): DecompressionStream('deflate-raw') where the
 * platform has it, else node's zlib. */
function motivusInflateRaw(bytes) {
  if (typeof DecompressionStream === "function") {
    var ds = null;
    try {
      ds = new DecompressionStream("deflate-raw");
    } catch (e) {
      ds = null; // an older platform without deflate-raw: fall back to zlib below
    }
    if (ds) {
      return motivusStream(ds, bytes);
    }
  }
  var zlib = motivusNodeRequire("zlib");
  if (zlib) {
    return Promise.resolve(new Uint8Array(zlib.inflateRawSync(bytes)));
  }
  return Promise.reject(new Error("this platform can not inflate deflate data (no DecompressionStream('deflate-raw'))"));
}

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
        p = motivusInflateRaw(entry.raw);
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

/** The bytes behind a data_link: a URL to fetch, or (node only) a local path or file:// URL. */
function motivusFetchBytes(link) {
  if (typeof link !== "string" || link === "") {
    return Promise.reject(new Error("data_link is not a string"));
  }
  var fs = motivusNodeRequire("fs");
  if (fs && !/^[a-z][a-z0-9+.-]*:\/\//i.test(link)) {
    return fs.promises.readFile(link).then(function (b) {
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    });
  }
  if (fs && /^file:\/\//i.test(link)) {
    var url = motivusNodeRequire("url");
    return fs.promises.readFile(url.fileURLToPath(link)).then(function (b) {
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    });
  }
  return fetch(link).then(function (response) {
    if (!response.ok) {
      throw new Error("fetching data_link " + link + " failed: HTTP " + response.status);
    }
    return response.arrayBuffer().then(function (buf) {
      return new Uint8Array(buf);
    });
  });
}

/** base64(gzip('{"data":null}')): the body of a reply when even gzip failed. */
var MOTIVUS_NULL_BODY = "H4sIAAAAAAACA6tWSkksSVSyyivNyakFAFj2dOgNAAAA";

/** Serve task bodies: one reply per posted body, in order. runTask(body) resolves to
 * {out, stdout, stderr, exitCode}; anything it throws still becomes one failure reply. */
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
    var json;
    try {
      json = JSON.stringify(result.out);
    } catch (e) {
      json = JSON.stringify({ data: null });
      result.stderr += "motivus: the result is not JSON-serialisable: " + e + "\n";
      result.exitCode = result.exitCode || 1;
    }
    return motivusGzip(new TextEncoder().encode(json)).then(function (gz) {
      post({
        body: motivusB64Encode(gz),
        stdout: result.stdout,
        stderr: result.stderr,
        exitCode: result.exitCode,
      });
    });
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
              out: { data: null },
              stdout: "",
              stderr: "motivus: " + (e && e.message ? e.message : String(e)) + "\n",
              exitCode: 1,
            };
          });
      })
      .then(reply)
      .catch(function (e) {
        // Replying itself failed (e.g. no gzip): still answer, with a fixed well-formed body.
        post({ body: MOTIVUS_NULL_BODY, stdout: "", stderr: "motivus: could not reply: " + e + "\n", exitCode: 1 });
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
