// Pure parts: the on-disk codecs, vg-check, PV membership changes, placement.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inflateRawSync } from 'node:zlib';
import { checkVg } from '../../src/lib/vg-check.js';
import type { Vg } from '../../src/lib/vg-types.js';
import { addPvs, dropOrMarkMissing, extentsUsedOn, markMissing, removePvs, unmarkMissing } from '../../src/transaction-manager/pvs.js';
import { Damage, decodeHeader, decodeLabel, decodePayload, decodeRecordHead, encodeHeader, encodeLabel, encodeRecord, RAW_RECORD_MAX, RING_OFFSET } from '../../src/pv-format/layout.js';
import { placeNext, placeRecord, deflate } from '../../src/transaction-manager/write.js';
import { ToolError } from '../../src/lib/errors.js';

const id = (c: string) => c.repeat(32);
const vg = (): Vg => ({
  format: 'dvm.vg/1',
  name: 'vg0',
  id: id('V'),
  seqno: 3,
  extent_size: 8192,
  pvs: [
    { id: id('a'), size: 8192 * 10 + 2048, pe_start: 2048, pe_count: 10, flags: ['allocatable'] },
    { id: id('b'), size: 8192 * 10 + 2048, pe_start: 2048, pe_count: 10, flags: ['allocatable'] },
  ],
  lvs: [
    { id: id('1'), name: 'lv1', flags: [], segments: [{ start_extent: 0, extent_count: 4, type: 'linear', areas: [{ pv: id('a'), pe: 0 }] }] },
    { id: id('2'), name: 'lv2', flags: [], segments: [{ start_extent: 0, extent_count: 4, type: 'striped', stripe_size: 128, areas: [{ pv: id('a'), pe: 4 }, { pv: id('b'), pe: 0 }] }] },
  ],
});

test('vg-check accepts a good VG and names each problem', () => {
  assert.equal(checkVg(vg()), []);
  const twice = vg();
  twice.lvs[1].segments[0].areas[0] = { pv: id('a'), pe: 3 };
  assert.match(checkVg(twice)[0], /mapped twice/);
  const past = vg();
  past.lvs[0].segments[0].areas[0] = { pv: id('a'), pe: 8 };
  assert.match(checkVg(past)[0], /past the end of PV/);
  const unknown = vg();
  unknown.lvs[0].segments[0].areas[0] = { pv: id('z'), pe: 0 };
  assert.match(checkVg(unknown)[0], /unknown PV/);
  const gap = vg();
  gap.lvs[0].segments.push({ start_extent: 5, extent_count: 1, type: 'linear', areas: [{ pv: id('b'), pe: 9 }] });
  assert.match(checkVg(gap)[0], /starts at extent 5, expected 4/);
  const dupName = vg();
  dupName.lvs[1].name = 'lv1';
  assert.match(checkVg(dupName)[0], /used twice/);
  const sub = vg();
  sub.lvs.push({ id: id('3'), name: 'm', flags: [], segments: [{ start_extent: 0, extent_count: 2, type: 'raid1', areas: [{ lv: id('1'), le: 0 }, { lv: id('1'), le: 3 }] }] });
  assert.ok(checkVg(sub).some((p) => /past the end of LV lv1/.test(p)));
  assert.ok(checkVg(sub).some((p) => /mapped twice/.test(p)) === false);
});

test('pvs: add, remove only empty PVs, mark and unmark missing', () => {
  const v = vg();
  assert.is(extentsUsedOn(v, id('a')), 6);
  assert.is(extentsUsedOn(v, id('b')), 2);
  const c = { id: id('c'), size: 100000, pe_start: 2048, pe_count: 5, flags: ['allocatable' as const] };
  const v2 = addPvs(v, [c]);
  assert.is(v2.pvs.length, 3);
  assert.is(v.pvs.length, 2, 'pure');
  assert.throws(() => addPvs(v2, [c]), (e: unknown) => e instanceof ToolError);
  assert.throws(() => removePvs(v2, [id('a')]), (e: unknown) => e instanceof ToolError && /still holds 6 extents/.test((e as Error).message));
  assert.is(removePvs(v2, [id('c')]).pvs.length, 2);
  const m = markMissing(v2, [id('b')]);
  assert.equal(m.pvs[1].flags, ['allocatable', 'missing']);
  assert.equal(unmarkMissing(m, [id('b')]).pvs[1].flags, ['allocatable']);
  const d = dropOrMarkMissing(v2, [id('b'), id('c')]);
  assert.equal(d.pvs.map((p) => [p.id[0], p.flags.includes('missing')]), [['a', false], ['b', true]]);
});

test('layout: label, header and record round-trip; damage is detected', () => {
  const label = { pvId: id('p'), vgId: id('V'), deviceSize: 10 << 20, mdaOffset: 4096, mdaSize: (1 << 20) - 4096, dataOffset: 1 << 20 };
  const lb = encodeLabel(label);
  assert.equal(decodeLabel(lb, 10 << 20), label);
  assert.throws(() => decodeLabel(lb, 512 * 1024), (e: unknown) => e instanceof Damage && /past the end/.test((e as Error).message));
  lb[40] ^= 4;
  assert.throws(() => decodeLabel(lb, 10 << 20), (e: unknown) => e instanceof Damage && /checksum/.test((e as Error).message));
  const slot = { offset: RING_OFFSET, length: 300, seqno: 7, hash: Buffer.alloc(32, 9) };
  const h = { copy: 1, generation: 5, vgId: id('V'), pvId: id('p'), vgName: 'vg0', mdaSize: label.mdaSize, committed: slot, precommit: null };
  const hb = encodeHeader(h);
  assert.equal(decodeHeader(hb, 1, { vgId: id('V'), pvId: id('p'), mdaSize: label.mdaSize }), h);
  assert.throws(() => decodeHeader(hb, 0, null), (e: unknown) => e instanceof Damage && /wrong place/.test((e as Error).message));
  assert.throws(() => decodeHeader(hb, 1, { vgId: id('W'), pvId: id('p'), mdaSize: label.mdaSize }), (e: unknown) => e instanceof Damage);
  const json = Buffer.from('{"x":"' + 'a'.repeat(RAW_RECORD_MAX) + '"}\n');
  const { record, hash } = encodeRecord(id('V'), 7, json, null, deflate);
  assert.ok(record.length < json.length, 'compressed because it pays');
  const twoBlocks = Buffer.from('{"x":"' + 'a'.repeat(RAW_RECORD_MAX - 256 - 9) + '"}\n');
  assert.is(twoBlocks.length + 256, RAW_RECORD_MAX);
  const raw = encodeRecord(id('V'), 7, twoBlocks, null, deflate);
  assert.is(raw.record.readUInt32LE(12), 0, 'a record of two blocks or less is stored raw');
  assert.is(raw.record.length, RAW_RECORD_MAX);
  const head = decodeRecordHead(record, RING_OFFSET, label.mdaSize);
  assert.is(head.seqno, 7);
  assert.ok(head.hash.equals(hash));
  const inflate = (b: Buffer, max: number) => inflateRawSync(b, { maxOutputLength: max });
  assert.ok(decodePayload(head, record.subarray(256), RING_OFFSET, inflate).equals(json));
  const bad = Buffer.from(record);
  bad[record.length - 3] ^= 1;
  assert.throws(() => decodePayload(head, bad.subarray(256), RING_OFFSET, inflate), (e: unknown) => e instanceof Damage);
  const small = encodeRecord(id('V'), 8, Buffer.from('{}\n'), hash, deflate);
  assert.is(small.record.readUInt32LE(12), 0, 'stored raw when compression does not pay');
});

test('placement: after the kept record, wrapping, never over it, null when full', () => {
  const mda = RING_OFFSET + 10 * 4096;
  const keep = (offset: number, length: number) => [{ offset, length, seqno: 1, hash: Buffer.alloc(32) }];
  assert.is(placeRecord(mda, [], 100), RING_OFFSET);
  assert.is(placeRecord(mda, keep(RING_OFFSET, 5000), 100), RING_OFFSET + 8192);
  assert.is(placeRecord(mda, keep(RING_OFFSET + 8 * 4096, 4096), 2 * 4096), RING_OFFSET, 'wraps');
  // Was null ("cannot fit beside it": 4 blocks free before, 5 after). Issue 17
  // item 4: the VG was stuck with 9 of 10 blocks free; the record now wraps.
  assert.is(placeRecord(mda, keep(RING_OFFSET + 4 * 4096, 4096), 6 * 4096), RING_OFFSET + 5 * 4096, 'wraps round the ring end when neither gap alone holds it');
  assert.is(placeRecord(mda, keep(RING_OFFSET + 4 * 4096, 4096), 9 * 4096), RING_OFFSET + 5 * 4096, 'every free block used');
  assert.is(placeRecord(mda, keep(RING_OFFSET + 4 * 4096, 4096), 10 * 4096), null, 'more than the free space');
  assert.is(placeRecord(mda, keep(RING_OFFSET + 4 * 4096, 4096), 4 * 4096), RING_OFFSET + 5 * 4096, 'after it, unwrapped, when that fits');
  assert.is(placeRecord(mda, keep(RING_OFFSET + 6 * 4096, 4096), 4 * 4096), RING_OFFSET, 'the ring start before wrapping');
  // a kept record that wraps itself (blocks 8, 9 and 0): the next goes after its tail
  assert.is(placeRecord(mda, keep(RING_OFFSET + 8 * 4096, 3 * 4096 - 10), 2 * 4096), RING_OFFSET + 4096, 'after a wrapped record');
  assert.is(placeRecord(mda, keep(RING_OFFSET + 8 * 4096, 3 * 4096), 7 * 4096), RING_OFFSET + 4096);
  assert.is(placeRecord(mda, keep(RING_OFFSET + 8 * 4096, 3 * 4096), 8 * 4096), null);
  assert.is(placeRecord(mda, [], 11 * 4096), null, 'larger than the ring');
});

test('placeNext: a generation takes at most half the ring, and a smaller one is always accepted', () => {
  const mda = RING_OFFSET + 10 * 4096;
  const slot = (offset: number, length: number) => ({ offset, length, seqno: 1, hash: Buffer.alloc(32) });
  assert.is(placeNext(mda, null, 5 * 4096), RING_OFFSET);
  assert.is(placeNext(mda, null, 5 * 4096 + 1), null, 'past half, though the ring holds it');
  assert.is(placeNext(mda, slot(RING_OFFSET + 2 * 4096, 4096), 6 * 4096), null, 'growing past half: the next change might not fit');
  // every size up to half, wherever a record of up to half sits: the next one of its size or smaller fits
  for (let at = 0; at < 10; at++)
    for (let k = 1; k <= 5; k++)
      for (let n = 1; n <= k; n++) assert.ok(placeNext(mda, slot(RING_OFFSET + at * 4096, k * 4096), n * 4096) !== null, `kept ${k} at ${at}, next ${n}`);
  // PVs of earlier versions may hold a record past half: no larger one, and a smaller one as far as it fits
  assert.is(placeNext(mda, slot(RING_OFFSET, 7 * 4096), 7 * 4096 + 1), null);
  assert.is(placeNext(mda, slot(RING_OFFSET, 7 * 4096), 3 * 4096), RING_OFFSET + 7 * 4096);
  assert.is(placeNext(mda, slot(RING_OFFSET, 7 * 4096), 4 * 4096), null, 'smaller, but it cannot fit beside the kept one');
});

test.run();
