'use strict';
// Bytes and text as the contract carries them, and the packed filesystem's zip reader
// (motivus_dev/loader_js/bytes.js, zip.js, inflate.js).
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const zlib = require('node:zlib');

const LOADER_JS = path.resolve(__dirname, '../../motivus_dev/loader_js');
const bytes = require(path.join(LOADER_JS, 'bytes'));
const { motivusReadZip } = require(path.join(LOADER_JS, 'zip'));

test('base64 both ways, and what is not base64 is refused naming the field', () => {
  const data = Uint8Array.from([0, 1, 254, 255, 10]);
  const text = bytes.motivusB64Encode(data);
  assert.strictEqual(text, Buffer.from(data).toString('base64'));
  assert.deepStrictEqual(Array.from(bytes.motivusB64Decode(text + '\n')), Array.from(data));
  assert.throws(() => bytes.motivusB64Decode('abc!', 'wasm'), /wasm is not valid base64/);
  assert.throws(() => bytes.motivusB64Decode(5, 'loader'), /loader is not a base64 string/);
  assert.strictEqual(bytes.motivusTextB64('h\u00e9'), Buffer.from('h\u00e9', 'utf8').toString('base64'));
});

test('posted bytes in every shape a worker may post', () => {
  const want = [1, 2, 3];
  for (const shape of [Uint8Array.from(want), Buffer.from(want), Uint8Array.from(want).buffer, want,
    JSON.parse(JSON.stringify(Buffer.from(want))), new DataView(Uint8Array.from(want).buffer)]) {
    assert.deepStrictEqual(Array.from(bytes.motivusToBytes(shape)), want);
  }
  assert.throws(() => bytes.motivusToBytes('123', 'buffWasm'), /buffWasm is not bytes/);
});

/** A zip of stored and deflated entries, as Python's zipfile writes them. */
function zipOf(entries) {
  const locals = [];
  const central = [];
  let offset = 0;
  for (const [name, data, deflate] of entries) {
    const raw = deflate ? zlib.deflateRawSync(data) : data;
    const nameBytes = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(deflate ? 8 : 0, 8);
    local.writeUInt32LE(raw.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(deflate ? 8 : 0, 10);
    dir.writeUInt32LE(raw.length, 20);
    dir.writeUInt32LE(data.length, 24);
    dir.writeUInt16LE(nameBytes.length, 28);
    dir.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, raw);
    central.push(dir, nameBytes);
    offset += 30 + nameBytes.length + raw.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, cd, end]));
}

test('a zip of stored and deflated entries reads back in archive order', async () => {
  const zip = zipOf([['data/', Buffer.alloc(0), false], ['data/a.txt', Buffer.from('stored'), false],
    ['data/b.txt', Buffer.from('deflated '.repeat(50)), true]]);
  const entries = await motivusReadZip(zip);
  assert.deepStrictEqual(entries.map((e) => [e.name, e.dir, Buffer.from(e.data).toString()]),
    [['data/', true, ''], ['data/a.txt', false, 'stored'], ['data/b.txt', false, 'deflated '.repeat(50)]]);
});

test('an entry that inflates to more than it declares is refused, and a non-zip is named', async () => {
  const zip = zipOf([['big.txt', Buffer.alloc(1 << 16), true]]);
  const view = new DataView(zip.buffer);
  const central = view.getUint32(zip.length - 6, true);
  view.setUint32(central + 24, 100, true); // the directory now says 100 bytes
  await assert.rejects(motivusReadZip(zip), /inflates to more than the 100 bytes it declares/);
  await assert.rejects(motivusReadZip(new Uint8Array(40)), /not a zip file/);
});
