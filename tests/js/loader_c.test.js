'use strict';
// The C/C++ harness (motivus_dev/loader_js/c/*.js): argv, guest paths, functions called by
// name, result files and failures. The program here is a real wasm module (an exported
// `add`) behind a small double of Emscripten's glue (its Module settings contract and an
// in-memory FS); the harness with emcc's real glue is tested by tests/integration.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');

const LOADER_JS = path.resolve(__dirname, '../../motivus_dev/loader_js');
const { motivusArguments, motivusGuestPath } = require(path.join(LOADER_JS, 'c/args'));
const { motivusExportedCall, motivusJsonValue } = require(path.join(LOADER_JS, 'c/call'));
const { motivusRunC } = require(path.join(LOADER_JS, 'c/harness'));

// (module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
const ADD_WASM = Buffer.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f,
  0x03, 0x02, 0x01, 0x00,
  0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00,
  0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b,
]);

/** An in-memory filesystem with the calls the harness makes of Emscripten's FS. */
function memoryFs() {
  const files = new Map();
  const dirs = new Set(['/']);
  return {
    files,
    mkdirTree(dir) {
      let at = '';
      for (const part of dir.split('/').filter(Boolean)) dirs.add((at += '/' + part));
    },
    writeFile(p, data) { files.set(p, typeof data === 'string' ? Buffer.from(data) : Buffer.from(data)); },
    readFile(p, opts) {
      const data = files.get(p);
      return opts && opts.encoding === 'utf8' ? data.toString('utf8') : new Uint8Array(data);
    },
    stat(p) {
      if (dirs.has(p)) return { mode: 1 };
      if (files.has(p)) return { mode: 0 };
      throw new Error('ENOENT ' + p);
    },
    isDir(mode) { return mode === 1; },
  };
}

/** A double of the kit's c/program module: `main` runs as the program's main(argc, argv). */
function program(main) {
  const fs = memoryFs();
  return {
    fs,
    name: 'demo',
    dataPackage: null,
    start(settings) {
      const Module = {};
      settings.instantiateWasm({}, (instance) => {
        Module._add = instance.exports.add;
        Promise.resolve().then(() => settings.onRuntimeInitialized());
      });
      return {
        module: Module,
        FS: fs,
        callMain: main ? (argv) => main(argv, fs, settings) : null,
        stringOnStack: null,
      };
    },
  };
}

const task = (fields) => Object.assign({ buffWasm: ADD_WASM }, fields);
const text = (b64) => Buffer.from(b64, 'base64').toString('utf8');

test('arguments: a list as it is, a string split as a shell splits it', () => {
  assert.deepStrictEqual(motivusArguments(['-k', 3, true]), ['-k', '3', 'true']);
  assert.deepStrictEqual(motivusArguments("-k 3 'a b' \"c\\\"d\" e\\ f"), ['-k', '3', 'a b', 'c"d', 'e f']);
  assert.deepStrictEqual(motivusArguments(null), []);
  assert.throws(() => motivusArguments("'open"), /unterminated ' quote/);
  assert.throws(() => motivusArguments([{}]), /arguments must be strings/);
});

test('guest paths are absolute, without . or .., and not the root', () => {
  assert.strictEqual(motivusGuestPath('/out//a.txt', 'result_files'), '/out/a.txt');
  assert.throws(() => motivusGuestPath('out/a.txt', 'result_files'), /result_files path "out\/a.txt" is not absolute/);
  assert.throws(() => motivusGuestPath('/in/../etc', 'preload_files'), /contains \.\./);
  assert.throws(() => motivusGuestPath('/', 'result_files'), /names the root directory/);
});

test('a function called by name gets C arguments and gives JSON', async () => {
  const result = await motivusRunC(program(null), task({ params: ['add', 40, true] }));
  assert.strictEqual(result.exitCode, 0, result.stderr);
  assert.deepStrictEqual(result.out, { data: 41 });
  assert.strictEqual(motivusJsonValue(2n ** 60n), '1152921504606846976');
  assert.strictEqual(motivusJsonValue(undefined), null);
});

test('without main, params must name an exported function, and the error lists them', async () => {
  const result = await motivusRunC(program(null), task({ params: ['mul', 1, 2] }));
  assert.strictEqual(result.exitCode, 1);
  assert.deepStrictEqual(result.out, {});
  assert.match(result.stderr, /has no main\(\), so params must name a function it exports.*\(it exports no "mul"\); exported: add/);
  const exported = { _add: () => 0 };
  assert.throws(() => motivusExportedCall({ module: exported, callMain: null, stringOnStack: null }, ['add'], ['add', 'x']),
    /argument 1 of add is a string, but the program has no string helper/);
});

test('main gets argv, its output, its result files and /motivus/data.json', async () => {
  const prog = program((argv, fs, settings) => {
    settings.print('args ' + argv.join(','));
    settings.printErr('careful');
    fs.writeFile('/out/result.txt', 'sum=' + JSON.parse(fs.readFile('/motivus/params.json', { encoding: 'utf8' }))[0]);
    fs.writeFile('/motivus/data.json', '{"sum": 3}');
    return 0;
  });
  const result = await motivusRunC(prog, task({
    arguments: '-k 2', params: [3], result_files: { '/out/result.txt': 'local.txt' },
    preload_files: { '/in/x.txt': Buffer.from('hi').toString('base64') },
  }));
  assert.strictEqual(result.exitCode, 0, result.stderr);
  assert.strictEqual(result.stdout, 'args -k,2\n');
  assert.strictEqual(result.stderr, 'careful\n');
  assert.deepStrictEqual(result.out, { '/out/result.txt': Buffer.from('sum=3').toString('base64'), data: { sum: 3 } });
  assert.strictEqual(prog.fs.files.get('/in/x.txt').toString(), 'hi');
});

test('a result file the program did not write fails the task, naming it', async () => {
  const result = await motivusRunC(program(() => 0), task({ result_files: { '/out/missing.txt': 'x' } }));
  assert.strictEqual(result.exitCode, 1);
  assert.match(result.stderr, /motivus: result file\(s\) not written by the program: \/out\/missing.txt/);
});

test('a crash is exit code 134 with the reason; bad input fails before the program runs', async () => {
  const crashed = await motivusRunC(program(() => { throw new WebAssembly.RuntimeError('unreachable'); }), task({}));
  assert.strictEqual(crashed.exitCode, 134);
  assert.match(crashed.stderr, /the program crashed: RuntimeError: unreachable/);
  // Bad input throws before anything runs; the message loop turns it into the failure reply.
  assert.throws(() => motivusRunC(program(() => 0), task({ preload_files: { '/in/x': '***' } })),
    /preload_files\[\/in\/x\] is not valid base64/);
  assert.throws(() => motivusRunC(program(() => 0), { params: [] }),
    /the task has neither wasm \(base64\) nor buffWasm \(bytes\)/);
});
