'use strict';
// The time split (motivus_dev/loader_js/timings.js): only for a body that asks, phases add
// up, the body's way in counts from motivus_posted_at; and both harnesses report it.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');

const LOADER_JS = path.resolve(__dirname, '../../motivus_dev/loader_js');
const { motivusTimings, motivusWithTimings } = require(path.join(LOADER_JS, 'timings'));
const { motivusRunRust } = require(path.join(LOADER_JS, 'rust/harness'));

const EMPTY_WASM = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

function busy(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* spin */ }
}

test('a body that does not ask gets no timings: the reply keeps the contract\'s shape', () => {
  const clock = motivusTimings({ params: [] });
  clock.lap('call');
  assert.strictEqual(clock.result(), undefined);
  assert.deepStrictEqual(motivusWithTimings({ out: {} }, clock), { out: {} });
});

test('laps add up per phase, and input starts when the body was posted', () => {
  const posted = performance.timeOrigin + performance.now() - 50;
  const clock = motivusTimings({ motivus_timings: true, motivus_posted_at: posted });
  busy(20);
  clock.lap('call');
  busy(10);
  clock.lap('output');
  busy(10);
  clock.lap('call');
  const phases = clock.result();
  assert.ok(phases.input >= 49, `input ${phases.input}`);
  assert.ok(phases.call >= 29, `call ${phases.call}`);
  assert.ok(phases.output >= 9 && phases.output < phases.call, `output ${phases.output}`);
});

test('the Rust harness reports input, instantiate, call and output for a body that asks', async () => {
  const glue = (console) => ({ initSync: () => {}, main: (a) => { busy(15); return a * 2; } });
  const result = await motivusRunRust(glue, { params: [21], buffWasm: EMPTY_WASM, motivus_timings: true });
  assert.deepStrictEqual(result.out, { data: 42 });
  assert.deepStrictEqual(Object.keys(result.timings).sort(), ['call', 'input', 'instantiate', 'output']);
  assert.ok(result.timings.call >= 14, `call ${result.timings.call}`);
  const plain = await motivusRunRust(glue, { params: [21], buffWasm: EMPTY_WASM });
  assert.strictEqual(plain.timings, undefined);
});
