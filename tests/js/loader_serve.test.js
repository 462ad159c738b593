'use strict';
// The loader's message loop (motivus_dev/loader_js/serve.js) in a real worker_threads
// worker, as the platform's worker runs a loader: one reply per posted body, in order, the
// body a plain JSON value, stdout/stderr base64 of UTF-8, failures in the platform's shape.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { Worker } = require('node:worker_threads');

const SERVE = path.resolve(__dirname, '../../motivus_dev/loader_js/serve.js');

// A worker that serves bodies with `runTask` (source of a function of the body).
function loader(runTask) {
  const source = `const { motivusServe } = require(${JSON.stringify(SERVE)});\n` +
    `motivusServe(${runTask});\n`;
  return new Worker(source, { eval: true, env: {} });
}

// The replies to `bodies`; a message beyond `count` (the platform's worker would ignore it,
// or take it for the next task's answer) fails the test.
function replies(worker, bodies, count) {
  return new Promise((resolve, reject) => {
    const got = [];
    worker.on('message', (m) => {
      got.push(m);
      if (got.length === count) setTimeout(() => resolve(got), 100);
    });
    worker.on('error', reject);
    bodies.forEach((b) => worker.postMessage(b));
  }).then((got) => {
    assert.strictEqual(got.length, count, 'one message per task, no more');
    return got;
  });
}

const b64 = (text) => Buffer.from(text, 'utf8').toString('base64');

test('one reply per body, in order, with output as base64 of its UTF-8 text', async () => {
  const worker = loader(`(body) => new Promise((resolve) => setTimeout(() => resolve({
    out: { data: body.n * 2 }, stdout: 'n=' + body.n + ' \u00e9\\n', stderr: '', exitCode: 0 }), 30 - body.n * 10))`);
  const got = await replies(worker, [{ n: 1 }, { n: 2 }], 2);
  await worker.terminate();
  assert.deepStrictEqual(got.map((m) => m.body), [{ data: 2 }, { data: 4 }]);
  assert.deepStrictEqual(Object.keys(got[0]).sort(), ['body', 'exitCode', 'stderr', 'stdout']);
  assert.strictEqual(got[0].stdout, b64('n=1 \u00e9\n'));
  assert.strictEqual(got[1].stderr, '');
  assert.strictEqual(got[0].exitCode, 0);
});

test('a task that throws still gets exactly one reply, in the failure shape', async () => {
  const worker = loader("(body) => { if (body.bad) throw new Error('no such input'); " +
    "return { out: { data: 'ok' }, stdout: '', stderr: '', exitCode: 0 }; }");
  const got = await replies(worker, [{ bad: true }, {}], 2);
  await worker.terminate();
  assert.deepStrictEqual(got[0].body, {});
  assert.strictEqual(got[0].exitCode, 1);
  assert.strictEqual(Buffer.from(got[0].stderr, 'base64').toString(), 'motivus: no such input\n');
  assert.deepStrictEqual(got[1].body, { data: 'ok' });
});

test('a value JSON cannot carry fails its task with the reason, not the worker', async () => {
  const worker = loader("() => ({ out: { data: 1n }, stdout: '', stderr: 'before\\n', exitCode: 0 })");
  const [reply] = await replies(worker, [{}], 1);
  await worker.terminate();
  assert.deepStrictEqual(reply.body, {});
  assert.strictEqual(reply.exitCode, 1);
  assert.match(Buffer.from(reply.stderr, 'base64').toString(), /^before\nmotivus: the result is not JSON-serialisable: /);
});
