// An attacker's loader for the containment tests (tests/component/test_attacks.py): it does
// what task code that arrived from a stranger's driver would try, and posts what happened,
// so that each test can say what stopped it. params: [attack, argument].
'use strict';
const { parentPort } = require('worker_threads');
const fs = require('fs');

function attempt(fn) {
  try {
    return 'ok: ' + String(fn());
  } catch (e) {
    return 'denied: ' + (e.code || e.name) + ': ' + e.message;
  }
}

function post(data) {
  parentPort.postMessage({ body: { data }, stdout: '', stderr: '' });
}

const attacks = {
  // A Unix socket by path (the Docker engine's, or any other): connect and send a request.
  unix(path) {
    const socket = require('net').connect({ path });
    let answer = '';
    const done = (what) => { socket.destroy(); post(what); };
    socket.on('connect', () => socket.write('GET /version HTTP/1.0\r\nHost: docker\r\n\r\n'));
    socket.on('data', (chunk) => { answer += chunk; });
    socket.on('end', () => done('connected: ' + answer.slice(0, 40)));
    socket.on('error', (e) => done('denied: ' + e.code));
    setTimeout(() => done('connected, no answer'), 3000);
  },
  // Everything else of the host at once: a TCP service on its 127.0.0.1, a program, a file
  // to read and one to write, the environment.
  host([port, readPath, writePath]) {
    const out = {
      env: Object.keys(process.env).join(','),
      spawn: attempt(() => require('child_process').execFileSync('/bin/sh', ['-c', 'id'])),
      read: attempt(() => fs.readFileSync(readPath, 'utf8')),
      write: attempt(() => fs.writeFileSync(writePath, 'pwned')),
    };
    const socket = require('net').connect(port, '127.0.0.1');
    const done = (what) => { out.tcp = what; socket.destroy(); post(out); };
    socket.on('connect', () => done('connected'));
    socket.on('error', (e) => done('denied: ' + e.code));
    setTimeout(() => done('timed out'), 3000);
  },
  // A host process by pid.
  kill(pid) {
    post(attempt(() => process.kill(pid, 'SIGKILL')));
  },
  // Forge the pool's own messages on its channel (fd 1), then wait to be answered.
  forge(line) {
    fs.writeSync(1, line);
  },
  // Every descriptor the process holds: which can be read, and what they give.
  fds() {
    const seen = {};
    for (let fd = 3; fd < 256; fd++) {
      let kind;
      try {
        const st = fs.fstatSync(fd);
        kind = st.isFile() ? 'file' : st.isSocket() ? 'socket' : st.isFIFO() ? 'fifo' : 'other';
      } catch (e) {
        continue;
      }
      if (kind !== 'file') continue;
      seen[fd] = attempt(() => {
        const buf = Buffer.alloc(64);
        const n = fs.readSync(fd, buf, 0, 64, 0);
        return buf.slice(0, n).toString();
      });
    }
    post(seen);
  },
  // What the filesystem shows.
  look() {
    const out = {};
    for (const path of ['/', '/proc', '/etc', '/run', '/var/run', '/root', '/home', '/tmp']) {
      out[path] = attempt(() => fs.readdirSync(path).join(','));
    }
    out.cpus = require('os').cpus().length;
    out.uid = process.getuid();
    post(out);
  },
  // Say something on stderr, then succeed (another driver must never see it).
  say(text) {
    console.error(text);
    setTimeout(() => post('said'), 50);
  },
  // Take the whole node process down.
  crash(text) {
    if (text) console.error(text);
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 50);
  },
  // Terminal escape sequences in the output of a failing task.
  escape(text) {
    parentPort.postMessage({ body: {}, stdout: '', stderr: Buffer.from(text).toString('base64'), exitCode: 3 });
  },
  // Never answer (a timer keeps the worker thread alive).
  hang() {
    setInterval(() => {}, 1000);
  },
};

parentPort.once('message', (task) => {
  const [attack, argument] = task.params;
  attacks[attack](argument);
});
