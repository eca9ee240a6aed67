// tm zeroes a new snapshot's COW header (src/transaction-manager/cow.ts): the
// first chunk of its COW space, on the PV, in the record's fsync barrier and
// before the commit; never again once the snapshot is committed, and nothing
// is written when the PV holding it is missing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { init, read, update } from '../../src/transaction-manager/ops.js';
import { lvCreate } from '../../src/metadata-manip/lv-create.js';
import { lvSnapshot } from '../../src/metadata-manip/lv-snapshot.js';
import { lvRename } from '../../src/metadata-manip/lv-admin.js';
import { cowHeaderWrites } from '../../src/transaction-manager/cow.js';
import type { Vg } from '../../src/lib/vg-types.js';
import { memDevs, recordingIo, MiB, type IoOp } from '../helpers/tm.js';
import type { MemDev } from '../../src/pv-format/device.js';

const ES = 128; // 64 KiB extents
const setup = () => {
  const devs = memDevs(2, 4 * MiB);
  init('vg0', devs, { metadataSize: 64 * 1024, extentSize: ES });
  return devs;
};
/** Where the LV's first extent lies: device index and byte offset. */
function firstExtent(devs: MemDev[], vg: Vg, name: string) {
  const lv = vg.lvs.find((l) => l.name === name)!;
  const a = lv.segments[0].areas[0] as { pv: string; pe: number };
  const env = read('vg0', devs).env;
  const pv = vg.pvs.find((p) => p.id === a.pv)!;
  const dev = devs.find((d) => d.path === env.devices[a.pv])!;
  return { dev, offset: (pv.pe_start + a.pe * ES) * 512 };
}

test('a new snapshot: the first chunk of its COW is zeroed, in the record barrier, before the commit; once', async () => {
  const devs = setup();
  await update('vg0', devs, async (vg) => lvCreate(vg, { name: 'data', size: '2e' }).vg);
  // what an old snapshot left on the extents the next LV gets
  let vg = read('vg0', devs).env.vg;
  const probe = lvCreate(vg, { name: 'x', size: '1e' }).vg;
  const at = firstExtent(devs, probe, 'x');
  at.dev.image.fill(0xaa, at.offset, at.offset + ES * 512);
  const ops: IoOp[] = [];
  await update('vg0', recordingIo(devs, ops), async (v) => lvSnapshot(v, { origin: 'data', name: 'snap', size: '1e', chunkSize: '16k' }).vg);
  vg = read('vg0', devs).env.vg;
  const snap = firstExtent(devs, vg, 'snap');
  assert.is(snap.offset, at.offset);
  assert.ok(snap.dev.image.subarray(snap.offset, snap.offset + 16 * 1024).every((b) => b === 0), 'first chunk zeroed');
  assert.ok(snap.dev.image.subarray(snap.offset + 16 * 1024, snap.offset + ES * 512).every((b) => b === 0xaa), 'nothing past it');
  // the zeros go before the first fsync; the commit header after it
  const writes = ops.map((o, i) => ({ o, i })).filter(({ o }) => o.kind === 'write');
  const zero = writes.find(({ o }) => o.kind === 'write' && o.w.offset === snap.offset)!;
  const firstSync = ops.findIndex((o) => o.kind === 'sync');
  assert.ok(zero && zero.i < firstSync);
  // later updates never zero it again: the kernel's header stands
  snap.dev.image.fill(0x55, snap.offset, snap.offset + 512);
  await update('vg0', devs, async (v) => lvRename(v, { name: 'snap', newName: 'snap2' }).vg);
  assert.ok(snap.dev.image.subarray(snap.offset, snap.offset + 512).every((b) => b === 0x55));
});

test('the zeroed range: at least 4 KiB, a chunk across extents; a missing PV fails before any write', async () => {
  const devs = setup();
  await update('vg0', devs, async (vg) => lvCreate(vg, { name: 'data', size: '2e' }).vg);
  const vg = read('vg0', devs).env.vg;
  const next = lvSnapshot(vg, { origin: 'data', name: 'snap', size: '3e', chunkSize: '128k' }).vg;
  const snap = next.lvs.find((l) => l.name === 'snap')!;
  const w = cowHeaderWrites(next, [snap]);
  assert.is(w.reduce((n, x) => n + x.length, 0), 128 * 1024);
  assert.is(cowHeaderWrites(next, [{ ...snap, snapshot: { ...snap.snapshot!, chunk_size: 8 } }])[0].length, 4096);
  // the COW on a PV that is gone: refused, nothing written
  const only = [devs[0]];
  const before = devs[0].image.toString('base64');
  const onPv1 = read('vg0', devs).env.vg.pvs[1].id;
  try {
    await update('vg0', only, async (v) => {
      const out = lvSnapshot(v, { origin: 'data', name: 'snap', size: '1e', pvs: [onPv1] }).vg;
      out.pvs = out.pvs.map((p) => (p.id === onPv1 ? { ...p, flags: [...p.flags, 'missing' as const] } : p));
      return out;
    });
    assert.unreachable('expected a refusal');
  } catch (e) {
    assert.match((e as Error).message, /the PV holding its COW space is missing; nothing written/);
  }
  assert.is(devs[0].image.toString('base64'), before);
});

test.run();
