/*
 * A C program's inputs as the task gives them: argv from `arguments`, and guest paths.
 */
"use strict";

/** argv[1:] from the task's `arguments`: a list (one entry per argument) or a string split
 * like a shell does (whitespace separates; '...' and "..." group; backslash escapes). */
function motivusArguments(args) {
  if (args === undefined || args === null) {
    return [];
  }
  if (Array.isArray(args)) {
    return args.map(function (a) {
      if (a !== null && typeof a === "object") {
        throw new Error("arguments must be strings, numbers or booleans, got " + JSON.stringify(a));
      }
      return String(a);
    });
  }
  if (typeof args !== "string") {
    throw new Error("arguments must be a list or a string");
  }
  var out = [];
  var cur = null;
  var quote = null;
  for (var i = 0; i < args.length; i++) {
    var c = args.charAt(i);
    if (quote === "'") {
      if (c === "'") {
        quote = null;
      } else {
        cur += c;
      }
    } else if (c === "\\" && i + 1 < args.length && (quote === null || /["\\$`]/.test(args.charAt(i + 1)))) {
      cur = (cur === null ? "" : cur) + args.charAt(++i);
    } else if (quote === '"') {
      if (c === '"') {
        quote = null;
      } else {
        cur += c;
      }
    } else if (c === "'" || c === '"') {
      quote = c;
      cur = cur === null ? "" : cur;
    } else if (/\s/.test(c)) {
      if (cur !== null) {
        out.push(cur);
        cur = null;
      }
    } else {
      cur = (cur === null ? "" : cur) + c;
    }
  }
  if (quote !== null) {
    throw new Error("arguments has an unterminated " + quote + " quote");
  }
  if (cur !== null) {
    out.push(cur);
  }
  return out;
}

/** A guest path: absolute, no "." or ".." components. */
function motivusGuestPath(path, what) {
  if (typeof path !== "string" || path.charAt(0) !== "/") {
    throw new Error(what + " path " + JSON.stringify(path) + " is not absolute");
  }
  var parts = path.split("/").filter(function (p) {
    return p !== "";
  });
  parts.forEach(function (p) {
    if (p === "." || p === "..") {
      throw new Error(what + " path " + JSON.stringify(path) + " contains " + p);
    }
  });
  if (parts.length === 0) {
    throw new Error(what + " path " + JSON.stringify(path) + " names the root directory");
  }
  return "/" + parts.join("/");
}

module.exports = { motivusArguments: motivusArguments, motivusGuestPath: motivusGuestPath };
