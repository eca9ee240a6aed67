// Crash replay without assuming that writes persist in order (issue 17): an
// update N -> N+1 is recorded with its fsyncs; between two fsync barriers of a
// device any subset of the writes issued may have reached the disk, one of
// them torn (test/helpers/tm.ts unorderedCrashStates). Every state must read
// back as exactly N or N+1, recover to the same with the right participant
// phase, and verify clean afterwards. Sampled deterministically (seeded) where
// the subset space explodes; the number of states run is printed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalJson } from '../../src/lib/canonical-json.js';
import type { Envelope } from '../../src/lib/vg-types.js';
import { MemDev } from '../../src/pv-format/device.js';
import { add, init, read, recover, remove, update, verify, type Participant } from '../../src/transaction-manager/ops.js';
import { readLabel, readPv } from '../../src/pv-format/pv.js';
import { loadVg } from '../../src/transaction-manager/state.js';
import { growMetadata } from '../../src/transaction-manager/grow.js';
import { addLv, cloneDevs, memDevs, randomLvs, recordingIo, replay, ringEndSetup, unorderedCrashStates, type IoOp } from '../helpers/tm.js';

const BUDGET = Number(process.env.DVM_CRASH_BUDGET ?? 600); // states per scenario
let total = 0;
let candidatesTotal = 0;
const text = (e: Envelope) => canonicalJson(e.vg);
const labelled = (devs: MemDev[]) =>
  devs.filter((d) => {
    try {
      readLabel(d);
      return true;
    } catch {
      return false;
    }
  });

interface Scenario {
  pvs: number;
  extraDevs?: number;
  before?: number;
  untilWrap?: boolean;
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
    for (let i = 0; i < 1000; i++) {
      const { offset, length } = readPv(vgDevs[0]).header!.committed!;
      const blocks = (n: number) => Math.ceil(n / 4096) * 4096;
      if (blocks(offset + length) + blocks(length) + 4096 > readPv(vgDevs[0]).header!.mdaSize) break;
      await update('vg0', vgDevs, addLv(`pre${i}`, 1, s.pad ?? 0));
    }
  }
  return devs;
}

async function crashTest(name: string, s: Scenario, expectNext: boolean): Promise<IoOp[]> {
  const start = await setup(s);
  const before = text(read('vg0', start.slice(0, s.pvs)).env);
  const ops: IoOp[] = [];
  const live = cloneDevs(start);
  const participant: Participant | undefined = s.sync
    ? async (phase) => {
        if (s.sync === 'prepare-fails' && phase === 'prepare') throw new Error('prepare refused');
      }
    : undefined;
  let failedOp = false;
  try {
    await s.op(recordingIo(live, ops) as MemDev[], participant);
  } catch {
    failedOp = true;
  }
  assert.is(failedOp, !expectNext, `${name}: the operation ${expectNext ? 'succeeds' : 'fails'}`);
  const after = text(read('vg0', labelled(live)).env);
  const { states, candidates } = unorderedCrashStates(ops, { budget: BUDGET, seed: name.length * 7919 });
  for (const cs of states) {
    const devs = labelled(replay(start, cs.writes));
    const where = `${name}, ${cs.name}`;
    let got: string;
    try {
      got = text(read('vg0', devs).env);
    } catch (e) {
      throw new Error(`${where}: read failed: ${(e as Error).message}`);
    }
    assert.ok(got === before || got === after, `${where}: read returns N or N+1`);
    const pending = loadVg('vg0', devs).pending;
    const phases: string[] = [];
    const r = await recover('vg0', devs, { sync: async (p) => void phases.push(p) });
    assert.equal(phases, [got === before && pending ? 'abort' : 'commit'], `${where}: participant phase`);
    assert.is(text(r.env), got, `${where}: recover keeps what read returned`);
    const clean = labelled(devs);
    assert.is(text(read('vg0', clean).env), got, `${where}: read after recover`);
    assert.equal(verify('vg0', clean).problems, [], `${where}: verify passes after recover`);
  }
  total += states.length;
  candidatesTotal += candidates;
  const writes = ops.filter((o) => o.kind === 'write').length;
  const syncs = ops.length - writes;
  console.log(`unordered crash states (${name}): ${states.length} run of ${candidates} (${writes} writes, ${syncs} fsyncs)`);
  return ops;
}

test('unordered crash states: 1 PV', async () => {
  await crashTest('1 PV', { pvs: 1, op: (d) => update('vg0', d, addLv('new')) }, true);
});

test('unordered crash states: 3 PVs', async () => {
  await crashTest('3 PVs', { pvs: 3, op: (d) => update('vg0', d, addLv('new', 1, 3000)) }, true);
});

test('unordered crash states: 3 PVs, the record wraps to the ring start', async () => {
  await crashTest('3 PVs wrapping', { pvs: 3, untilWrap: true, pad: 3000, op: (d) => update('vg0', d, addLv('new', 1, 3000)) }, true);
});

test('unordered crash states: 3 PVs, the record wraps round the ring end (two writes per PV)', async () => {
  await crashTest('3 PVs round the end', { pvs: 3, ringEnd: true, op: (d) => update('vg0', d, randomLvs(32)) }, true);
});

test('unordered crash states: a wrapping update, then tm grow-metadata moving that record into the grown area', async () => {
  await crashTest('grow-metadata', {
    pvs: 2,
    ringEnd: true,
    op: async (d) => {
      await update('vg0', d, randomLvs(32));
      await growMetadata('vg0', d);
    },
  }, true);
});

test('unordered crash states: 2 PVs with --sync, participant ok', async () => {
  await crashTest('2 PVs sync', { pvs: 2, sync: 'ok', op: (d, p) => update('vg0', d, addLv('new'), { sync: p }) }, true);
});

test('unordered crash states: 2 PVs with --sync, prepare fails and rolls back', async () => {
  await crashTest('2 PVs sync abort', { pvs: 2, sync: 'prepare-fails', op: (d, p) => update('vg0', d, addLv('new'), { sync: p }) }, false);
});

test('unordered crash states: tm add of a third PV', async () => {
  await crashTest('add', { pvs: 2, extraDevs: 1, op: (d) => add('vg0', d.slice(0, 2), d.slice(2)) }, true);
});

test('unordered crash states: tm remove of an empty PV', async () => {
  await crashTest('remove', { pvs: 3, op: (d) => remove('vg0', d.slice(0, 2), d.slice(2)) }, true);
});

test('unordered crash states: total', () => {
  console.log(`unordered crash states run in total: ${total} of ${candidatesTotal} distinct candidates`);
  assert.ok(total > 500);
});

test.run();
