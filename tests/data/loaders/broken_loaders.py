"""Loaders that break the worker contract in the ways a pool must survive (for the tests)."""

SILENT_EXIT = "require('worker_threads').parentPort.once('message', () => process.exit(3));\n"
NO_BODY = (
    "const { parentPort } = require('worker_threads');\n"
    "parentPort.once('message', () => parentPort.postMessage(42));\n"
)
THROWS = "require('worker_threads').parentPort.once('message', () => { throw new Error('boom in the loader'); });\n"
HANGS = "require('worker_threads').parentPort.once('message', () => { for (;;) {} });\n"
