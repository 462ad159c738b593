'use strict';
// CPU profiles of the loaders' worker threads, for `motivus profile`.
//
// V8's own sampling profiler, reached through node's inspector in this process: the pool's
// main thread attaches to each new worker thread before it runs a line (NodeWorker domain,
// waitForDebuggerOnStart), starts the worker's profiler, lets it run, and stops it when the
// loader has answered. The profile is the Chrome DevTools `.cpuprofile` object (nodes,
// samples, timeDeltas), with wasm functions under the names of the module's name section.
// No file is written: the profile travels to Python in the task's result line.
//
// Only required when the pool runs with MOTIVUS_PROFILE_TASKS=1 (node's permission model
// refuses the inspector, so a profiling pool runs in the sandbox without that layer).

const inspector = require('inspector');

let session = null;
let nextId = 1;
const replies = new Map(); // message id -> {resolve, reject}
const attaching = []; // resolvers waiting for the next worker to attach

function post(method, params) {
  return new Promise((resolve, reject) => {
    session.post(method, params || {}, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

/** Connect to this process's inspector and hold every new worker until it is profiled. */
async function enable() {
  session = new inspector.Session();
  session.connect();
  session.on('NodeWorker.receivedMessageFromWorker', ({ params }) => {
    const msg = JSON.parse(params.message);
    const waiter = msg.id !== undefined ? replies.get(msg.id) : undefined;
    if (!waiter) return;
    replies.delete(msg.id);
    if (msg.error) waiter.reject(new Error(`${msg.error.message} (${JSON.stringify(msg.error.data || '')})`));
    else waiter.resolve(msg.result);
  });
  session.on('NodeWorker.attachedToWorker', ({ params }) => {
    const next = attaching.shift();
    if (next) next(params.sessionId);
  });
  await post('NodeWorker.enable', { waitForDebuggerOnStart: true });
}

function inWorker(sessionId, method, params) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    replies.set(id, { resolve, reject });
    post('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id, method, params: params || {} }) })
      .catch(reject);
  });
}

/** The session of the next worker thread created: call it before `new Worker`. */
function nextWorker() {
  return new Promise((resolve) => attaching.push(resolve));
}

/** Start profiling a held worker every `intervalUs` microseconds, then let it run. */
async function start(sessionId, intervalUs) {
  await inWorker(sessionId, 'Profiler.enable');
  await inWorker(sessionId, 'Profiler.setSamplingInterval', { interval: intervalUs });
  await inWorker(sessionId, 'Profiler.start');
  await inWorker(sessionId, 'Runtime.runIfWaitingForDebugger');
}

/** Stop the worker's profiler: its `.cpuprofile` object. */
async function stop(sessionId) {
  const result = await inWorker(sessionId, 'Profiler.stop');
  return result.profile;
}

module.exports = { enable, nextWorker, start, stop };
