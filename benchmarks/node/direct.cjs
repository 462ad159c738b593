'use strict';
// The floor of loopback throughput: a package's loader run directly in node, no Python, no
// websocket. Modes:
//   warm   one worker per lane, created once; tasks are posted to it one after another
//          (what the loopback pool does with a warm worker; `module` precompiled once);
//   fresh  a new `new Worker(loaderText, {eval: true})` per task, as the cluster's node
//          workers do (the body carries wasm + buffWasm only, no precompiled module).
// usage: node direct.js LOADER.js MODULE.wasm MODE N LANES PARAMS_JSON EXPECTED_JSON
// prints one JSON line: {"mode", "n", "lanes", "seconds", "tasks_per_s", "p50_ms", "p99_ms"}
const fs = require('fs');
const { Worker } = require('worker_threads');

const [loaderPath, wasmPath, mode, nText, lanesText, paramsText, expectedText] = process.argv.slice(2);
const loader = fs.readFileSync(loaderPath, 'utf8');
const buff = fs.readFileSync(wasmPath);
const wasm = buff.toString('base64');
const wasmModule = mode === 'warm' ? new WebAssembly.Module(buff) : null;
const n = Number(nText);
const lanes = Number(lanesText);
const params = JSON.parse(paramsText);
const expected = JSON.stringify(JSON.parse(expectedText));

function body() {
  const b = { params, arguments: null, preload_files: null, result_files: null, data_link: null, wasm, buffWasm: buff };
  if (wasmModule) b.module = wasmModule;
  return b;
}

function check(m) {
  // The answer is checked, so that a broken loader cannot look fast.
  // The body is plain JSON (the worker encodes it); stdout/stderr are base64.
  const out = m.body;
  if (m.exitCode !== 0 || JSON.stringify(out.data) !== expected) {
    throw new Error(`wrong result: ${JSON.stringify(out)} stderr=${Buffer.from(m.stderr || '', 'base64')}`);
  }
}

function once(worker) {
  return new Promise((resolve, reject) => {
    const onError = (e) => { worker.off('message', onMessage); reject(e); };
    const onMessage = (m) => {
      worker.off('error', onError);
      try { check(m); resolve(); } catch (e) { reject(e); }
    };
    worker.once('message', onMessage);
    worker.once('error', onError);
    worker.postMessage(body());
  });
}

async function lane(count, latencies) {
  let worker = mode === 'warm' ? new Worker(loader, { eval: true }) : null;
  if (worker) await once(worker); // warm-up task, not timed
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    if (mode === 'warm') {
      await once(worker);
    } else {
      const w = new Worker(loader, { eval: true });
      await once(w);
      await w.terminate();
    }
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  if (worker) await worker.terminate();
}

async function main() {
  const latencies = [];
  // Warm lanes are created before the clock starts; a fresh worker's creation is timed.
  const per = Math.ceil(n / lanes);
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: lanes }, () => lane(per, latencies)));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  latencies.sort((a, b) => a - b);
  const pick = (q) => latencies[Math.min(latencies.length - 1, Math.ceil((q / 100) * latencies.length) - 1)];
  console.log(JSON.stringify({
    mode, n: per * lanes, lanes, seconds, tasks_per_s: (per * lanes) / seconds,
    p50_ms: pick(50), p99_ms: pick(99),
  }));
}

main().catch((e) => { console.error(e.stack || e); process.exit(1); });
