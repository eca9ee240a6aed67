// SHA-256 and raw deflate come from the native addon (OpenSSL and zlib as
// linked into Node: src/lib/sha256.ts, src/lib/raw-deflate.ts). They must
// give exactly what node:crypto and node:zlib give, refuse damaged or
// oversized input, and be the ones in use (else every start pays node:zlib
// and node:crypto again, silently).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { loadAddon } from '../../src/lib/addon.js';
import { sha256 } from '../../src/lib/sha256.js';
import { deflateRaw, inflateRaw } from '../../src/lib/raw-deflate.js';

const doc = Buffer.from(JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ id: randomBytes(8).toString('hex'), name: `lv${i}` }))));

test('the addon has the codecs', () => {
  const a = loadAddon<Record<string, unknown>>();
  for (const f of ['sha256', 'deflateRaw', 'inflateRaw']) assert.type(a[f], 'function', f);
});

test('sha256 is node:crypto\'s, for bytes and for strings', () => {
  for (const b of [Buffer.alloc(0), Buffer.from('abc'), doc]) assert.ok(sha256(b).equals(createHash('sha256').update(b).digest()));
  assert.is(sha256('vg\0é').toString('hex'), createHash('sha256').update('vg\0é').digest('hex'));
});

test('deflateRaw gives node:zlib\'s bytes; inflateRaw round-trips and refuses damage and overflow', () => {
  for (const level of [1, 6, 9]) assert.ok(deflateRaw(doc, level).equals(deflateRawSync(doc, { level })), `level ${level}`);
  const packed = deflateRaw(doc, 6);
  assert.ok(inflateRaw(packed, doc.length).equals(doc));
  assert.throws(() => inflateRaw(packed, doc.length - 1), /larger than max/);
  assert.throws(() => inflateRaw(packed.subarray(0, packed.length - 20), doc.length), /inflateRaw/);
  assert.throws(() => inflateRaw(Buffer.from('not deflate at all'), 100), /inflateRaw/);
  assert.throws(() => inflateRaw(packed, 0), /out of range/);
});

test.run();
