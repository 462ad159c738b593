'use strict';
// The Rust harness (motivus_dev/loader_js/rust/*.js): the exported function called as the
// platform calls it, its console as the task's output, its value as JSON, failures. The glue
// here is a double of wasm-bindgen's `--target no-modules` shape (initSync + exports); the
// harness with the real wasm-bindgen glue is tested by tests/integration.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');

const LOADER_JS = path.resolve(__dirname, '../../motivus_dev/loader_js');
const { motivusRunRust } = require(path.join(LOADER_JS, 'rust/harness'));
const { motivusJsonReplacer } = require(path.join(LOADER_JS, 'rust/json'));

const EMPTY_WASM = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/** A double of the kit's rust/bindgen module: a fresh glue per task, with the task's console. */
function bindgen(exports) {
  const made = [];
  const of = (console) => {
    const glue = { initSync: ({ module }) => { glue.module = module; } };
    for (const [name, fn] of Object.entries(exports)) glue[name] = (...args) => fn(console, ...args);
    made.push(glue);
    return glue;
  };
  of.made = made;
  return of;
}

test('main is called with params; its value is data, its console the output', async () => {
  const glue = bindgen({
    main: (console, a, b) => { console.log('adding', a, b); console.warn('careful'); return a + b; },
    other: () => 'other',
  });
  const result = await motivusRunRust(glue, { params: [2, 3], buffWasm: EMPTY_WASM });
  assert.deepStrictEqual(result, { out: { data: 5 }, stdout: 'adding 2 3\n', stderr: 'careful\n', exitCode: 0 });
  assert.ok(glue.made[0].module instanceof WebAssembly.Module);
  const entry = await motivusRunRust(glue, { params: [], entry: 'other', wasm: EMPTY_WASM.toString('base64') });
  assert.deepStrictEqual(entry.out, { data: 'other' });
  assert.strictEqual(glue.made.length, 2, 'a fresh glue per task');
});

test('values JSON cannot carry as they are become numbers, strings, arrays or fields', async () => {
  assert.strictEqual(motivusJsonReplacer('', 5n), 5);
  assert.strictEqual(motivusJsonReplacer('', 2n ** 60n), '1152921504606846976');
  assert.deepStrictEqual(motivusJsonReplacer('', new Float64Array([1.5, 2])), [1.5, 2]);
  class Point { get x() { return 1; } get y() { return 2; } }
  const point = Object.assign(new Point(), { __wbg_ptr: 1234 });
  const glue = bindgen({ main: () => ({ big: 7n, point }) });
  const result = await motivusRunRust(glue, { buffWasm: EMPTY_WASM });
  assert.deepStrictEqual(result.out, { data: { big: 7, point: { x: 1, y: 2 } } });
});

test('a panic, a missing export and bad params fail the task with the reason', async () => {
  const glue = bindgen({ main: (console) => { console.error('panicked at src/lib.rs:3:5'); throw new Error('unreachable'); } });
  const panic = await motivusRunRust(glue, { buffWasm: EMPTY_WASM });
  assert.strictEqual(panic.exitCode, 1);
  assert.deepStrictEqual(panic.out, {});
  assert.strictEqual(panic.stderr, 'panicked at src/lib.rs:3:5\nError: unreachable\n');
  const missing = await motivusRunRust(glue, { buffWasm: EMPTY_WASM, entry: 'initSync' });
  assert.match(missing.stderr, /the package has no exported function "initSync"/);
  const params = await motivusRunRust(glue, { buffWasm: EMPTY_WASM, params: 'x' });
  assert.match(params.stderr, /params must be a list, got "x"/);
});
