// The front half of a loader in the style of the platform's emscripten adapter for C
// programs, written by us from the worker contract for the tests; it is not the platform's
// code. The build (tests/integration/test_platform_packages.py) appends emcc's glue and a
// closing brace: the glue runs inside start(Module), with this Module. Platform style:
//   - one task, then it stops listening (parentPort.once / one-shot onmessage);
//   - stdout/stderr lines are prefixed with "[ISO time] " and posted base64 (btoa);
//   - the body is one key per requested result file (base64 of its bytes), no `data`;
//   - no exitCode.
var _stdout = '';
var _stderr = '';
var isNode = typeof process === 'object' && process.versions && process.versions.node;

function b64(bytes) {
  var s = '';
  for (var i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function unb64(text) {
  var bin = atob(text);
  var out = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function textB64(text) {
  return b64(new TextEncoder().encode(text));
}

function answer(message) {
  if (isNode) require('worker_threads').parentPort.postMessage(message);
  else postMessage(message);
}

function handle(task) {
  var Module = {
    arguments: Array.isArray(task.arguments) ? task.arguments.map(String) : [],
    wasmBinary: task.buffWasm ? new Uint8Array(task.buffWasm) : unb64(task.wasm),
    print: function (l) { _stdout += '[' + new Date().toISOString() + '] ' + l + '\n'; },
    printErr: function (l) { _stderr += '[' + new Date().toISOString() + '] ' + l + '\n'; },
    preRun: [function () {
      var files = task.preload_files || {};
      Object.keys(files).forEach(function (path) {
        Module.FS.mkdirTree(Module.PATH.dirname(path));
        Module.FS.writeFile(path, unb64(files[path]));
      });
    }],
    postRun: [function () {
      var body = {};
      Object.keys(task.result_files || {}).forEach(function (path) {
        try { body[path] = b64(Module.FS.readFile(path)); } catch (e) { /* missing: left out */ }
      });
      answer({ body: body, stdout: textB64(_stdout), stderr: textB64(_stderr) });
    }],
  };
  start(Module);
}

if (isNode) {
  require('worker_threads').parentPort.once('message', handle);
} else {
  onmessage = function (e) { onmessage = null; handle(e.data); };
}

var start = function (Module) {
