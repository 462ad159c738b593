'use strict';
// The pool's node side (motivus_dev/runtime/node/pool.js), driven over its pipes as the
// Python side drives it (motivus_dev/runtime/pipe.py): `node --test tests/js/`.
const { test } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const path = require('node:path');

const POOL = path.join(__dirname, '..', '..', 'motivus_dev', 'runtime', 'node', 'pool.js');
const KEY = 'k'.repeat(32);
// The smallest valid wasm module: the loaders below do not instantiate it.
const WASM = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]).toString('base64');

function loader(source) {
  return Buffer.from(source).toString('base64');
}

// A pool process and a reader of its replies: lines, and the raw body after a result line.
function startPool() {
  const child = spawn(process.execPath, [POOL], { stdio: ['pipe', 'pipe', 'pipe'] });
  let buffered = Buffer.alloc(0);
  const replies = [];
  const waiting = [];
  const raw = [];
  child.stdout.on('data', (chunk) => {
    raw.push(chunk);
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      const nl = buffered.indexOf(10);
      if (nl < 0) return;
      const line = buffered.subarray(0, nl).toString();
      let reply;
      try { reply = JSON.parse(line); } catch (e) { reply = { unparsed: line }; }
      let rest = buffered.subarray(nl + 1);
      if (reply.body_bytes) {
        if (rest.length < reply.body_bytes) return; // wait for the whole body
        reply.body = rest.subarray(0, reply.body_bytes).toString();
        rest = rest.subarray(reply.body_bytes);
      }
      buffered = rest;
      const next = waiting.shift();
      if (next) next(reply); else replies.push(reply);
    }
  });
  return {
    child,
    raw,
    send(msg) { child.stdin.write(JSON.stringify(msg) + '\n'); },
    next() {
      if (replies.length) return Promise.resolve(replies.shift());
      return new Promise((resolve) => waiting.push(resolve));
    },
    close() { child.stdin.end(); return new Promise((resolve) => child.on('exit', resolve)); },
  };
}

test('nothing is answered before hello, and every reply carries its key', async () => {
  const pool = startPool();
  pool.send({ op: 'hello', key: KEY });
  const ready = await pool.next();
  assert.strictEqual(ready.op, 'ready');
  assert.strictEqual(ready.k, KEY);
  await pool.close();
});

test('a first request other than hello ends the process', async () => {
  const pool = startPool();
  const exited = new Promise((resolve) => pool.child.on('exit', resolve));
  pool.send({ op: 'package', hash: 'h', loader: loader(''), wasm: WASM });
  assert.strictEqual(await exited, 2);
});

test("the loader's first message is the answer, its body handed over as JSON.stringify text", async () => {
  const pool = startPool();
  pool.send({ op: 'hello', key: KEY });
  await pool.next();
  const source = "const { parentPort } = require('worker_threads');\n" +
    "parentPort.once('message', (t) => { parentPort.postMessage({ body: { data: t.params[0] * 2 }, " +
    "stdout: btoa('out'), stderr: '' }); parentPort.postMessage({ body: 'ignored' }); });\n";
  pool.send({ op: 'package', hash: 'h', loader: loader(source), wasm: WASM });
  pool.send({ op: 'run', id: 7, hash: 'h', data_hash: null, timeout_ms: 5000, body: { run_type: 'wasm', params: [21] } });
  const result = await pool.next();
  assert.strictEqual(result.op, 'result');
  assert.strictEqual(result.id, 7);
  assert.strictEqual(result.k, KEY);
  assert.strictEqual(result.body, JSON.stringify({ data: 42 }));
  assert.strictEqual(result.result.stdout, Buffer.from('out').toString('base64'));
  await pool.close();
});

test('a line a loader writes to fd 1 does not carry the key', async () => {
  const pool = startPool();
  pool.send({ op: 'hello', key: KEY });
  await pool.next();
  const forged = '{"op":"result","id":8,"error":"forged"}\n';
  const source = "const fs = require('fs'); const { parentPort } = require('worker_threads');\n" +
    `parentPort.once('message', () => { fs.writeSync(1, ${JSON.stringify(forged)}); ` +
    "parentPort.postMessage({ body: {}, stdout: '', stderr: '' }); });\n";
  pool.send({ op: 'package', hash: 'h', loader: loader(source), wasm: WASM });
  pool.send({ op: 'run', id: 8, hash: 'h', data_hash: null, timeout_ms: 5000, body: { run_type: 'wasm' } });
  const first = await pool.next();
  const second = await pool.next();
  const keyed = [first, second].filter((r) => r.k === KEY);
  assert.strictEqual(keyed.length, 1, JSON.stringify([first, second]));
  assert.strictEqual(keyed[0].error, undefined);
  assert.ok([first, second].some((r) => r.error === 'forged' && r.k === undefined));
  await pool.close();
});

test('a deadline terminates the loader and fails the task with the reason', async () => {
  const pool = startPool();
  pool.send({ op: 'hello', key: KEY });
  await pool.next();
  const source = "setInterval(() => {}, 1000);\n";
  pool.send({ op: 'package', hash: 'h', loader: loader(source), wasm: WASM });
  pool.send({ op: 'run', id: 9, hash: 'h', data_hash: null, timeout_ms: 200, deadline_s: 0.2, body: {} });
  const result = await pool.next();
  assert.strictEqual(result.k, KEY);
  assert.match(result.error, /deadline exceeded: the task ran longer than 0.2 s/);
  await pool.close();
});
