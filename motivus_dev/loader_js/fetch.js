/*
 * Getting the bytes behind a task's data_link: http(s) with node's modules or the
 * browser's fetch/XHR, and (node only) a local path or file:// URL.
 */
"use strict";

var env = require("./env");
var motivusIsNode = env.motivusIsNode;
var motivusNodeRequire = env.motivusNodeRequire;

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

module.exports = { motivusFetchBytes: motivusFetchBytes };
