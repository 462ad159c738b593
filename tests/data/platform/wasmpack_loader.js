// A loader in the style of the platform's own Rust packages (wasm-pack glue plus the
// platform's worker wrapper), written by us from the worker contract for the tests; it is
// not the platform's code. What makes it "platform style" and not ours:
//   - it answers ONE task and stops listening: parentPort.once / a one-shot onmessage
//     (no reuse marker, so a pool must start a new worker per task);
//   - it posts {body: {data}, stdout: "", stderr: ""}: no exitCode, empty output (the
//     module's prints go to the worker's console, as wasm-pack's console.log does);
//   - it instantiates synchronously from buffWasm (node) or the base64 `wasm` (browser);
//   - a failure is an uncaught exception: the worker's `error` event, which the platform's
//     worker turns into {body: {}, stdout: null, stderr: btoa(String(error)), exitCode: 1}.
// The module is tests/data/loaders/add.wat: main(a, b) = a + b, env.print(ptr, len).
var isNode = typeof process === 'object' && process.versions && process.versions.node;

function bytesOf(task) {
  if (task.buffWasm) return new Uint8Array(task.buffWasm);
  var bin = atob(task.wasm);
  var out = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function run(task) {
  var memory = null;
  var instance = new WebAssembly.Instance(new WebAssembly.Module(bytesOf(task)), {
    env: {
      print: function (ptr, len) {
        console.log(new TextDecoder().decode(new Uint8Array(memory.buffer, ptr, len)).trimEnd());
      },
    },
  });
  memory = instance.exports.memory;
  var params = task.params || [];
  // like wasm-bindgen's glue, only the declared parameters are converted (checked here)
  params.slice(0, instance.exports.main.length).forEach(function (p) {
    if (typeof p !== 'number') throw new TypeError('main expects numbers, got ' + JSON.stringify(p));
  });
  var data = instance.exports.main.apply(null, params);
  return { body: { data: data }, stdout: '', stderr: '' };
}

if (isNode) {
  var parentPort = require('worker_threads').parentPort;
  parentPort.once('message', function (task) {
    parentPort.postMessage(run(task));
  });
} else {
  onmessage = function (e) {
    onmessage = null;
    postMessage(run(e.data));
  };
}
