// Crash at every write: record every write of an update N -> N+1, replay
// every prefix (and every prefix with its last write torn at a sector
// boundary) onto the starting images; each must read back as exactly N or
// N+1, recover to the same, and verify clean afterwards.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalJson } from '../../src/lib/canonical-json.js';
import type { Envelope } from '../../src/lib/vg-types.js';
import { recording, type WriteRecord, MemDev } from '../../src/pv-format/device.js';
import { add, init, read, recover, remove, update, verify, type Participant } from '../../src/transaction-manager/ops.js';
import { readLabel, readPv } from '../../src/pv-format/pv.js';
import { loadVg } from '../../src/transaction-manager/state.js';
import { addLv, cloneDevs, crashPoints, memDevs, randomLvs, replay, ringEndSetup } from '../helpers/tm.js';

let total = 0;
const text = (e: Envelope) => canonicalJson(e.vg);

interface Scenario {
  pvs: number;
  extraDevs?: number; // devices appended for tm add
  before?: number; // updates before the one under test (ring position)
  untilWrap?: boolean; // fill the ring so that the record under test wraps
  ringEnd?: boolean; // a 6-block ring whose kept record leaves 2 blocks free either side (ringEndSetup)
  pad?: number;
  op: (devs: MemDev[], sync?: Participant) => Promise<unknown>;
  sync?: 'ok' | 'prepare-fails';
}

async function setup(s: Scenario): Promise<MemDev[]> {
  const devs = memDevs(s.pvs + (s.extraDevs ?? 0));
  const vgDevs = devs.slice(0, s.pvs);
  init('vg0', vgDevs, { metadataSize: 64 * 1024, extentSize: 128 });
  for (let i = 0; i < (s.before ?? 0); i++) await update('vg0', vgDevs, addLv(`pre${i}`, 1, s.pad ?? 0));
  if (s.ringEnd) await ringEndSetup(vgDevs, update);
  if (s.untilWrap) {
    // stop when the next record no longer fits before the end of the ring:
    // records only grow here, so one of the current length is its lower bound
    for (let i = 0; i < 1000; i++) {
      const { offset, length } = readPv(vgDevs[0]).header!.committed!;
      const blocks = (n: number) => Math.ceil(n / 4096) * 4096;
      if (blocks(offset + length) + blocks(length) > readPv(vgDevs[0]).header!.mdaSize) break;
      await update('vg0', vgDevs, addLv(`fill${i}`, 1, s.pad ?? 0));
    }
  }
  return devs;
}

const labelled = (devs: MemDev[]) =>
  devs.filter((d) => {
    try {
      readLabel(d);
      return true;
    } catch {
      return false;
    }
  });

async function crashTest(name: string, s: Scenario, expectNext: boolean) {
  const start = await setup(s);
  const before = text(read('vg0', start.slice(0, s.pvs)).env);
  const log: WriteRecord[] = [];
  const live = cloneDevs(start);
  const phases: string[] = [];
  const participant: Participant | undefined = s.sync
    ? async (phase) => {
        phases.push(phase);
        if (s.sync === 'prepare-fails' && phase === 'prepare') throw new Error('prepare refused');
      }
    : undefined;
  let failedOp = false;
  try {
    await s.op(recording(live, log) as MemDev[], participant);
  } catch {
    failedOp = true;
  }
  assert.is(failedOp, !expectNext, `${name}: the operation ${expectNext ? 'succeeds' : 'fails'}`);
  const after = text(read('vg0', labelled(live)).env);
  if (expectNext) assert.is.not(after, before);
  else assert.is(after, before);
  let points = 0;
  for (const cp of crashPoints(log)) {
    const devs = labelled(replay(start, cp.writes));
    const where = `${name}, ${cp.name}`;
    const got = text(read('vg0', devs).env);
    assert.ok(got === before || got === after, `${where}: read returns N or N+1`);
    const recPhases: string[] = [];
    const pending = loadVg('vg0', devs).pending;
    const r = await recover('vg0', devs, { sync: async (p) => void recPhases.push(p) });
    // the participant converges: abort when an uncommitted N+1 was rolled back, commit otherwise
    assert.equal(recPhases, [got === before && pending ? 'abort' : 'commit'], `${where}: participant phase`);
    assert.is(text(r.env), got, `${where}: recover keeps what read returned`);
    const clean = labelled(devs);
    assert.is(text(read('vg0', clean).env), got, `${where}: read after recover`);
    const v = verify('vg0', clean);
    assert.equal(v.problems, [], `${where}: verify passes after recover`);
    points++;
  }
  total += points;
  console.log(`crash points checked (${name}): ${points} (${log.length} writes)`);
  return phases;
}

test('crash at every write: 1 PV', async () => {
  await crashTest('1 PV', { pvs: 1, op: (d) => update('vg0', d, addLv('new')) }, true);
});

test('crash at every write: 3 PVs', async () => {
  await crashTest('3 PVs', { pvs: 3, op: (d) => update('vg0', d, addLv('new', 1, 3000)) }, true);
});

test('crash at every write: 3 PVs, the new record wraps to the ring start', async () => {
  let offsets: number[] = [];
  await crashTest('3 PVs wrapping', {
    pvs: 3,
    // past RAW_RECORD_MAX first: every record deflated, none smaller than the one before
    before: 30,
    untilWrap: true,
    pad: 3000,
    op: async (d) => {
      const before = readPv(d[0]).header!.committed!.offset;
      await update('vg0', d, addLv('new', 1, 3000));
      offsets = [before, readPv(d[0]).header!.committed!.offset];
    },
  }, true);
  assert.ok(offsets[1] < offsets[0], `the record wrapped (${offsets})`);
});

test('crash at every write: 3 PVs, the new record wraps round the ring end (two writes per PV)', async () => {
  let slot = { offset: 0, length: 0, mdaSize: 0 };
  await crashTest('3 PVs round the end', {
    pvs: 3,
    ringEnd: true,
    op: async (d) => {
      await update('vg0', d, randomLvs(32));
      const h = readPv(d[0]).header!;
      slot = { offset: h.committed!.offset, length: h.committed!.length, mdaSize: h.mdaSize };
    },
  }, true);
  assert.ok(slot.offset + slot.length > slot.mdaSize, `the record runs past the ring end (${JSON.stringify(slot)})`);
});

test('crash at every write: 2 PVs with --sync, participant ok', async () => {
  await crashTest('2 PVs sync', { pvs: 2, sync: 'ok', op: (d, p) => update('vg0', d, addLv('new'), { sync: p }) }, true);
});

test('crash at every write: 2 PVs with --sync, prepare fails and rolls back', async () => {
  await crashTest('2 PVs sync abort', { pvs: 2, sync: 'prepare-fails', op: (d, p) => update('vg0', d, addLv('new'), { sync: p }) }, false);
});

test('crash at every write: tm add of a third PV', async () => {
  await crashTest('add', { pvs: 2, extraDevs: 1, op: (d) => add('vg0', d.slice(0, 2), d.slice(2)) }, true);
});

test('crash at every write: tm remove of an empty PV', async () => {
  await crashTest('remove', { pvs: 3, op: (d) => remove('vg0', d.slice(0, 2), d.slice(2)) }, true);
});

test('crash points total', () => {
  console.log(`crash points checked in total: ${total}`);
  assert.ok(total > 300);
});

test.run();
