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
 *   motivusTextB64(text), motivusInflateRaw(bytes, limit) -> Promise<Uint8Array>
 *   motivusReadZip(bytes) -> Promise<[{name, dir, data}]>
 *   motivusFetchBytes(link) -> Promise<Uint8Array>
 *   motivusServe(runTask): the message loop; runTask(body) -> Promise<{out, stdout, stderr, exitCode}>
 *
 * The contract this follows: the loader posts ONE message per task, {body, stdout, stderr,
 * exitCode}, where body is a plain JSON value (the worker gzips and base64s it, not us),
 * stdout/stderr are base64 of the UTF-8 text (the 2.4.0 client base64-decodes them), and
 * exitCode is an integer. It runs on node 16 (no global fetch, no structuredClone, no
 * global Blob/Response), in newer node, and in a browser Web Worker; it must stay 7-bit
 * ASCII, because the platform's worker decodes loaders as ASCII.
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

/** Text as the contract wants stdout/stderr: base64 of its UTF-8 bytes. */
function motivusTextB64(text) {
  return motivusB64Encode(new TextEncoder().encode(text));
}

/** UTF-8 bytes to a string (invalid sequences become U+FFFD). */
function motivusUtf8Decode(bytes) {
  return new TextDecoder("utf-8").decode(bytes);
}

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

/** GET a URL with node's http/https (node 16 has no global fetch); follows redirects. */
function motivusNodeGet(link, redirects) {
  var url = motivusNodeRequire("url");
  var parsed = new url.URL(link);
  var mod = parsed.protocol === "https:" ? motivusNodeRequire("https") : parsed.protocol === "http:" ? motivusNodeRequire("http") : null;
  if (!mod) {
    return Promise.reject(new Error("unsupported data_link scheme " + parsed.protocol + " (use http or https)"));
  }
  return new Promise(function (resolve, reject) {
    var req = mod.get(parsed, { headers: { "accept-encoding": "identity" } }, function (res) {
      var status = res.statusCode || 0;
      if (status >= 300 && status < 400 && res.headers.location && (redirects || 0) < 5) {
        res.resume();
        resolve(motivusNodeGet(new url.URL(res.headers.location, parsed).toString(), (redirects || 0) + 1));
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new Error("fetching data_link " + link + " failed: HTTP " + status));
        return;
      }
      var chunks = [];
      res.on("data", function (c) {
        chunks.push(c);
      });
      res.on("end", function () {
        var b = Buffer.concat(chunks);
        resolve(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
      });
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

/** GET a URL in a browser worker: fetch where there is one, else XMLHttpRequest. */
function motivusBrowserGet(link) {
  if (typeof fetch === "function") {
    return fetch(link).then(function (response) {
      if (!response.ok) {
        throw new Error("fetching data_link " + link + " failed: HTTP " + response.status);
      }
      return response.arrayBuffer().then(function (buf) {
        return new Uint8Array(buf);
      });
    });
  }
  return new Promise(function (resolve, reject) {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", link);
    xhr.responseType = "arraybuffer";
    xhr.onload = function () {
      if (xhr.status === 200) {
        resolve(new Uint8Array(xhr.response));
      } else {
        reject(new Error("fetching data_link " + link + " failed: HTTP " + xhr.status));
      }
    };
    xhr.onerror = function () {
      reject(new Error("fetching data_link " + link + " failed"));
    };
    xhr.send();
  });
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
  return motivusIsNode ? motivusNodeGet(link, 0) : motivusBrowserGet(link);
}

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
    post({ body: out, stdout: motivusTextB64(result.stdout), stderr: motivusTextB64(stderr), exitCode: exitCode });
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
