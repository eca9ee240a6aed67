// struct dm_ioctl packing against hand-computed fixture bytes (offsets from
// include/uapi/linux/dm-ioctl.h, checked with gcc on x86_64).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  packHeader, readHeader, packLoad, packRename, packMessage, parseSpecs, parseNameList, parseDeps,
  encodeDev, decodeDev, ioctlRequest, CMD, FLAG, HEADER_SIZE,
} from '../../src/dmexec/layout.js';
import type { Sectors } from '../../src/lib/units.js';

const line = (start: number, length: number, target: string, params: string) => ({ start: start as Sectors, length: length as Sectors, target, params });

test('ioctl request numbers are _IOWR(0xfd, nr, 312 bytes)', () => {
  assert.is(ioctlRequest(CMD.VERSION), 0xc138fd00);
  assert.is(ioctlRequest(CMD.DEV_CREATE), 0xc138fd03);
  assert.is(ioctlRequest(CMD.TABLE_STATUS), 0xc138fd0c);
});

test('header fields sit at their uapi offsets', () => {
  const b = packHeader({ name: 'vg0-data', uuid: 'DVM-abc', flags: FLAG.SUSPEND | FLAG.NOFLUSH, version: [4, 2, 0], targetCount: 3, dev: encodeDev(253, 7) }, 1024);
  assert.is(b.length, 1024);
  assert.is(b.readUInt32LE(0), 4);
  assert.is(b.readUInt32LE(4), 2);
  assert.is(b.readUInt32LE(12), 1024, 'data_size');
  assert.is(b.readUInt32LE(16), 312, 'data_start');
  assert.is(b.readUInt32LE(20), 3, 'target_count');
  assert.is(b.readUInt32LE(28), (1 << 1) | (1 << 11), 'flags');
  assert.is(b.readUInt32LE(32), 0, 'event_nr (no udev cookie)');
  assert.is(b.readBigUInt64LE(40), (253n << 8n) | 7n, 'dev');
  assert.is(b.toString('utf8', 48, 56), 'vg0-data');
  assert.is(b[56], 0);
  assert.is(b.toString('utf8', 176, 183), 'DVM-abc');
  const h = readHeader(b);
  assert.equal(h.version, [4, 2, 0]);
  assert.is(h.name, 'vg0-data');
  assert.is(h.uuid, 'DVM-abc');
  assert.equal(decodeDev(h.dev), { major: 253, minor: 7 });
});

test('names of 128 bytes and uuids of 129 bytes do not fit', () => {
  assert.throws(() => packHeader({ name: 'x'.repeat(128) }), /longer than 127/);
  packHeader({ name: 'x'.repeat(127) });
  assert.throws(() => packHeader({ uuid: 'u'.repeat(129) }), /longer than 128/);
});

test('dev encoding matches glibc makedev for large minors', () => {
  assert.is(encodeDev(8, 16), 0x810n);
  assert.is(encodeDev(253, 300), 0x10fd2cn);
  for (const [maj, min] of [[253, 0], [253, 255], [253, 256], [259, 1048575], [4095, 12345]]) {
    assert.equal(decodeDev(encodeDev(maj, min)), { major: maj, minor: min });
  }
  // makedev(253, 256) = (256 & 0xff) | (253 << 8) | ((256 & ~0xff) << 12) = 0xfd00 | 0x100000
  assert.is(encodeDev(253, 256), 0x10fd00n);
});

test('TABLE_LOAD specs: 40-byte spec, NUL-terminated params padded to 8, next relative to the spec', () => {
  const { buf, paramsOffsets } = packLoad('d', [line(0, 100, 'linear', '7:0 2048'), line(100, 50, 'zero', '')]);
  // spec 1 at 312: params "7:0 2048" (8 bytes + NUL -> 16), next = 56
  assert.is(buf.readBigUInt64LE(312), 0n);
  assert.is(buf.readBigUInt64LE(320), 100n);
  assert.is(buf.readInt32LE(328), 0);
  assert.is(buf.readUInt32LE(332), 56);
  assert.is(buf.toString('utf8', 336, 342), 'linear');
  assert.is(buf.toString('utf8', 352, 360), '7:0 2048');
  assert.is(buf[360], 0);
  // spec 2 at 368: empty params -> 8 bytes of padding, next = 48
  assert.is(buf.readBigUInt64LE(368), 100n);
  assert.is(buf.readUInt32LE(388), 48);
  assert.is(buf.toString('utf8', 392, 396), 'zero');
  assert.is(buf.length, 312 + 56 + 48);
  assert.is(buf.readUInt32LE(12), buf.length);
  assert.is(buf.readUInt32LE(20), 2);
  assert.equal(paramsOffsets, [352, 408]);
  assert.is(buf.length % 8, 0);
});

test('rename and message payloads start at data_start', () => {
  const r = packRename('old', 'new-name');
  assert.is(r.toString('utf8', 48, 51), 'old');
  assert.is(r.toString('utf8', HEADER_SIZE, HEADER_SIZE + 8), 'new-name');
  assert.is(r[HEADER_SIZE + 8], 0);
  const m = packMessage('pool', 0, 'create_thin 1', 64);
  assert.is(m.readUInt32LE(4), 2, 'TARGET_MSG needs interface 4.2');
  assert.is(m.readBigUInt64LE(HEADER_SIZE), 0n);
  assert.is(m.toString('utf8', HEADER_SIZE + 8, HEADER_SIZE + 21), 'create_thin 1');
});

/** Build what the kernel returns for TABLE_STATUS: specs whose next is relative to data_start. */
function statusFixture(lines: [number, number, string, string][]): Buffer {
  const buf = packHeader({}, 4096);
  let off = HEADER_SIZE;
  for (const [start, len, target, params] of lines) {
    buf.writeBigUInt64LE(BigInt(start), off);
    buf.writeBigUInt64LE(BigInt(len), off + 8);
    buf.write(target, off + 24);
    buf.write(params + '\0', off + 40);
    const next = off + 40 + ((params.length + 1 + 7) & ~7);
    buf.writeUInt32LE(next - HEADER_SIZE, off + 20);
    off = next;
  }
  buf.writeUInt32LE(lines.length, 20);
  buf.writeUInt32LE(off, 12);
  return buf;
}

test('TABLE_STATUS output parses back into lines', () => {
  const buf = statusFixture([[0, 8192, 'linear', '7:0 2048'], [8192, 4096, 'striped', '2 128 7:1 2048 7:2 2048']]);
  assert.equal(parseSpecs(buf), [line(0, 8192, 'linear', '7:0 2048'), line(8192, 4096, 'striped', '2 128 7:1 2048 7:2 2048')]);
});

test('LIST_DEVICES output: name at offset 12, next relative to the entry, empty list has dev 0', () => {
  const buf = packHeader({}, 1024);
  buf.writeBigUInt64LE(encodeDev(253, 0), 312);
  buf.writeUInt32LE(40, 320);
  buf.write('first\0', 324);
  buf.writeBigUInt64LE(encodeDev(253, 1), 352);
  buf.writeUInt32LE(0, 360);
  buf.write('second\0', 364);
  assert.equal(parseNameList(buf), [
    { dev: encodeDev(253, 0), name: 'first' },
    { dev: encodeDev(253, 1), name: 'second' },
  ]);
  assert.equal(parseNameList(packHeader({}, 1024)), []);
});

test('TABLE_DEPS output', () => {
  const buf = packHeader({}, 512);
  buf.writeUInt32LE(2, 312);
  buf.writeBigUInt64LE(encodeDev(7, 0), 320);
  buf.writeBigUInt64LE(encodeDev(7, 1), 328);
  assert.equal(parseDeps(buf), [encodeDev(7, 0), encodeDev(7, 1)]);
});

test('a spec pointing beyond the returned data is an error, not a read out of bounds', () => {
  const buf = statusFixture([[0, 8, 'zero', '']]);
  buf.writeUInt32LE(5, 20); // claims 5 targets
  assert.throws(() => parseSpecs(buf), RangeError);
});

test.run();
