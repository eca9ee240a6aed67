// tm grow-metadata (issue 17 item 4, the way out of a full area): growing up
// to the data start, moving the data start past free extents, refusals that
// write nothing, and a crash at every write of it (each prefix, each torn
// at a sector) reading the same VG, recovering, verifying clean.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalJson } from '../../src/lib/canonical-json.js';
import type { Vg } from '../../src/lib/vg-types.js';
import { recording, type MemDev, type WriteRecord } from '../../src/pv-format/device.js';
import { RING_OFFSET, BLOCK, MDA_OFFSET } from '../../src/pv-format/layout.js';
import { readLabel, readPv } from '../../src/pv-format/pv.js';
import { growMetadata } from '../../src/transaction-manager/grow.js';
import { init, read, recover, update, verify } from '../../src/transaction-manager/ops.js';
import { moveDataStart } from '../../src/transaction-manager/pvs.js';
import { ToolError } from '../../src/lib/errors.js';
import { addLv, cloneDevs, crashPoints, memDevs, MiB, randomLvs, replay, ringEndSetup } from '../helpers/tm.js';

const text = (vg: Vg) => canonicalJson(vg);
const mda = (d: MemDev) => readPv(d).header!.mdaSize;
/** Crash points, with writes larger than 8 blocks (the zeroed extension) torn only at 64 KiB steps: thousands of sectors each otherwise. */
function* sampled(log: WriteRecord[]) {
  for (const cp of crashPoints(log)) {
    const last = cp.writes.at(-1);
    const whole = log[cp.writes.length - 1];
    if (last && whole && last.data.length !== whole.data.length && whole.data.length > 8 * BLOCK && last.data.length % (64 * 1024)) continue;
    yield cp;
  }
}
const isFull = (e: unknown) => e instanceof ToolError && /metadata area full/.test(e.message);
const sectorsOf = (vg: Vg) => vg.lvs.flatMap((lv) => lv.segments.flatMap((s) => s.areas.map((a) => ('pv' in a ? `${lv.name}:${vg.pvs.find((p) => p.id === a.pv)!.pe_start + a.pe * vg.extent_size}` : ''))));

/** PVs with a 6-block ring whose current record wraps round its end, and a data start at 1 MiB. */
async function smallWrapped(n: number): Promise<MemDev[]> {
  const devs = memDevs(n);
  init('vg0', devs, { metadataSize: 64 * 1024, extentSize: 128 });
  await ringEndSetup(devs, update);
  await update('vg0', devs, randomLvs(32));
  const s = readPv(devs[0]).header!.committed!;
  assert.ok(s.offset + s.length > mda(devs[0]), 'the current record wraps');
  return devs;
}

test('moveDataStart: pe_start up by k extents, pe numbers down by k, the sectors unchanged; used extents refused', () => {
  const vg: Vg = { format: 'dvm.vg/1', name: 'v', id: 'I'.repeat(32), seqno: 3, extent_size: 8, pvs: [{ id: 'P'.repeat(32), size: 1000, pe_start: 16, pe_count: 100, flags: ['allocatable'] }], lvs: [{ id: 'L'.repeat(32), name: 'a', flags: [], segments: [{ start_extent: 0, extent_count: 3, type: 'linear', areas: [{ pv: 'P'.repeat(32), pe: 5 }] }] }] };
  const next = moveDataStart(vg, new Map([['P'.repeat(32), 4]]));
  assert.equal([next.pvs[0].pe_start, next.pvs[0].pe_count], [48, 96]);
  assert.equal(sectorsOf(next), sectorsOf(vg));
  assert.throws(() => moveDataStart(vg, new Map([['P'.repeat(32), 6]])), /extents 5\.\.5 are used by LV 'a'/);
});

test('grow up to the data start: a wrapped current record moves unwrapped; a generation past half the old ring then commits', async () => {
  const devs = await smallWrapped(2);
  const before = text(read('vg0', devs).env.vg);
  await update('vg0', devs, randomLvs(40)).then(() => assert.unreachable('past half the small ring'), (e) => assert.ok(isFull(e), String(e)));
  const { env, actions } = await growMetadata('vg0', devs);
  assert.is(text(env.vg), before, 'the same generation: nothing in the VG changed');
  assert.ok(actions.every((a) => /grown from 32768 to 1044480 bytes \(the current record moved to 32768, unwrapped\)/.test(a)), actions.join('; '));
  for (const d of devs) assert.equal([mda(d), readLabel(d).mdaSize, readLabel(d).dataOffset], [MiB - MDA_OFFSET, MiB - MDA_OFFSET, MiB]);
  assert.equal(verify('vg0', devs).problems, []);
  await update('vg0', devs, randomLvs(40));
  assert.equal(verify('vg0', devs).problems, []);
  await growMetadata('vg0', devs).then(() => assert.unreachable('nothing left to grow'), (e) => assert.ok(/already reaches its data start/.test(String(e)), String(e)));
});

test('grow with --metadata-size: the data start moves past free extents (one commit), then the area grows', async () => {
  const devs = memDevs(2, 8 * MiB);
  init('vg0', devs, { metadataSize: 64 * 1024, extentSize: 2048 }); // 1 MiB extents, data at 1 MiB
  // extents 0..1 of each PV free, an LV on extents 3..4 of PV 0
  await update('vg0', devs, async (vg) => ({ ...vg, lvs: [{ id: 'L'.repeat(32), name: 'keep', flags: [], segments: [{ start_extent: 0, extent_count: 2, type: 'linear', areas: [{ pv: vg.pvs[0].id, pe: 3 }] }] }] }));
  const sectors = sectorsOf(read('vg0', devs).env.vg);
  const used = await update('vg0', devs, addLv('x'));
  const image = devs.map((d) => Buffer.from(d.image));
  await growMetadata('vg0', devs, { metadataSize: 2 * MiB }).then(() => assert.unreachable('extent 0 of PV 0 is used'), (e) => assert.ok(/used by LV 'x'.*nothing written/.test(String(e)), String(e)));
  devs.forEach((d, i) => assert.ok(d.image.equals(image[i]), 'nothing written'));
  await update('vg0', devs, async (vg) => ({ ...vg, lvs: vg.lvs.filter((l) => l.name !== 'x') }));
  assert.is(used.vg.lvs.length, 2);
  const { env } = await growMetadata('vg0', devs, { metadataSize: 2 * MiB });
  assert.equal(env.vg.pvs.map((p) => p.pe_start), [3 * 2048, 3 * 2048], 'data start at 3 MiB: 2 extents moved');
  assert.equal(sectorsOf(env.vg), sectors, 'every LV keeps its sectors');
  for (const d of devs) assert.is(mda(d), 3 * MiB - MDA_OFFSET);
  assert.equal(verify('vg0', devs).problems, []);
});

test('crash at every write of grow-metadata (area only, a wrapped record moved): the VG reads the same, recover finishes or leaves it, verify clean', async () => {
  const start = await smallWrapped(2);
  const want = text(read('vg0', start).env.vg);
  const log: WriteRecord[] = [];
  const live = cloneDevs(start);
  await growMetadata('vg0', recording(live, log) as MemDev[]);
  let points = 0;
  for (const cp of sampled(log)) {
    const devs = replay(start, cp.writes);
    const where = cp.name;
    assert.is(text(read('vg0', devs).env.vg), want, `${where}: read`);
    await recover('vg0', devs);
    assert.equal(verify('vg0', devs).problems, [], `${where}: verify after recover`);
    assert.is(text(read('vg0', devs).env.vg), want, `${where}: read after recover`);
    for (const d of devs) assert.ok([RING_OFFSET + 6 * BLOCK, MiB - MDA_OFFSET].includes(mda(d)), `${where}: old or grown area`);
    await update('vg0', devs, addLv('after'));
    points++;
  }
  console.log(`grow-metadata crash points: ${points} (${log.length} writes)`);
  assert.ok(points > 50);
});

test('crash at every write of grow-metadata moving the data start: N or N+1, the same sectors, verify clean', async () => {
  const start = memDevs(2, 8 * MiB);
  init('vg0', start, { metadataSize: 64 * 1024, extentSize: 2048 });
  await update('vg0', start, async (vg) => ({ ...vg, lvs: [{ id: 'L'.repeat(32), name: 'keep', flags: [], segments: [{ start_extent: 0, extent_count: 2, type: 'linear', areas: [{ pv: vg.pvs[1].id, pe: 3 }] }] }] }));
  const sectors = sectorsOf(read('vg0', start).env.vg);
  const log: WriteRecord[] = [];
  await growMetadata('vg0', recording(cloneDevs(start), log) as MemDev[], { metadataSize: 2 * MiB });
  let points = 0;
  for (const cp of sampled(log)) {
    const devs = replay(start, cp.writes);
    const got = read('vg0', devs).env.vg;
    assert.equal(sectorsOf(got), sectors, `${cp.name}: the same sectors`);
    await recover('vg0', devs);
    assert.equal(verify('vg0', devs).problems, [], `${cp.name}: verify after recover`);
    await update('vg0', devs, addLv('after'));
    points++;
  }
  console.log(`grow-metadata (data start) crash points: ${points} (${log.length} writes)`);
});

test.run();
