/*
 * Where the loader runs: node (a worker_threads worker) or a browser Web Worker, and node's
 * built-in modules when there are any.
 */
"use strict";

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

module.exports = { motivusIsNode: motivusIsNode, motivusNodeRequire: motivusNodeRequire };
