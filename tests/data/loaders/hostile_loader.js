// A hostile loader for the containment tests: for the task body it gets, it tries what task
// code must not be able to do on the machine that runs it, and posts what happened.
// params: [file to write, file to read, port on 127.0.0.1 to connect to, uncaught?]
'use strict';
const { parentPort } = require('worker_threads');

function attempt(fn) {
  try {
    return String(fn());
  } catch (e) {
    return 'denied: ' + (e.code || e.name) + ': ' + e.message;
  }
}

parentPort.once('message', (task) => {
  const [writeTo, readFrom, port, uncaught] = task.params;
  if (uncaught) {
    require('child_process').execSync(`id > ${writeTo}`); // not caught: the task must fail
  }
  const out = {
    env: Object.keys(process.env).join(','),
    child: attempt(() => require('child_process').execSync(`id > ${writeTo}`)),
    write: attempt(() => require('fs').writeFileSync(writeTo, 'pwned')),
    read: attempt(() => require('fs').readFileSync(readFrom, 'utf8')),
    environ: attempt(() => require('fs').readFileSync(`/proc/${process.ppid}/environ`, 'utf8').length),
  };
  const socket = require('net').connect(port, '127.0.0.1');
  const done = (what) => {
    out.connect = what;
    socket.destroy();
    parentPort.postMessage({ body: { data: out }, stdout: '', stderr: '' });
  };
  socket.on('connect', () => done('connected'));
  socket.on('error', (e) => done('denied: ' + e.code));
  setTimeout(() => done('timed out'), 3000);
});
