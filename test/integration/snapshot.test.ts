// Classic (COW) snapshots on the real kernel (#13): tm zeroes the new COW's
// header, vol-activate maps the stack as LVM2 does (snapshot-origin over
// -real, snapshot over -cow), dmactivate orders it; tm update --sync adds and
// removes a snapshot of an active origin; a snapshot of a mounted ext4 taken
// under a running writer passes fsck; lv-merge maps snapshot-merge, the
// kernel rolls the origin back, and the next tm update --sync drops the merged
// snapshot; an overflowed snapshot is invalid and reported so; LVM2 builds the
// same stack for the same layout.
// The pipeline runs in process (node starts slowly in the TCG VM); the same
// cores and the same dmexec executor as the CLIs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, fsyncSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { execa } from 'execa';
import { FileDev } from '../../src/pv-format/device.js';
import { init, read, update } from '../../src/transaction-manager/ops.js';
import { lvCreate } from '../../src/metadata-manip/lv-create.js';
import { lvMerge, lvSnapshot } from '../../src/metadata-manip/lv-snapshot.js';
import { lvRemove } from '../../src/metadata-manip/lv-admin.js';
import type { Envelope, Vg } from '../../src/lib/vg-types.js';
import { parseSnapshotStatus } from '../../src/lib/dm-table.js';
import type { DmProgram } from '../../src/lib/dm-program.js';
import { cowHeaderWrites } from '../../src/transaction-manager/cow.js';
import { activate, assertNothingSuspended, dmInfo, dropCaches, makeLoops, namedTables, participant, planFor, query, readAt, runProgram, sh, sha, SYNC_CMD, writeAt } from '../helpers/vm-dm.js';
import { lvRows } from '../../src/report/rows.js';
import { vgScope } from '../../src/lib/dm-doc.js';
import { binPath } from '../helpers/cli.js';

const VG = 'vgsnap';
const MiB = 1 << 20;
let paths: string[] = [];
let devs: FileDev[] = [];
const mnt = '/tmp/dvm-mnt-snap';

const envelope = (): Envelope => read(VG, devs).env;
/** tm update --sync with the participant in process (vol-activate --active | dmactivate | dmexec per phase). */
const change = (mutate: (vg: Vg) => Vg) =>
  update(VG, devs, async (vg) => mutate(vg), {
    sync: async (phase, env) => {
      if (!participant(env, phase)) throw new Error(`participant ${phase} failed`);
    },
  });
const mapper = (lv: string) => `/dev/mapper/${VG}-${lv}`;
async function status(name: string): Promise<string> {
  return (await sh('dmsetup', ['status', name])).trim();
}
async function assertConverged(what: string) {
  assert.equal(planFor(envelope(), {}).steps, [], `${what}: kernel and metadata agree`);
  await assertNothingSuspended(what, VG);
}

test.before(async () => {
  ({ devs: paths } = await makeLoops(2, 96));
  devs = paths.map((p) => FileDev.open(p, true));
  init(VG, devs, { extentSize: 8192 });
  await update(VG, devs, async (vg) => lvCreate(vg, { name: 'data', size: '16M' }).vg);
  assert.ok(activate(envelope(), { lvs: ['data'] }).result.ok);
});
test.after(async () => {
  await sh('umount', [mnt]).catch(() => {});
  for (const d of (await dmInfo()).filter((x) => x.name.startsWith(`${VG}-`)).reverse()) await sh('dmsetup', ['remove', d.name]).catch(() => {});
  for (const d of devs) d.close();
  for (const p of paths) await sh('losetup', ['-d', p]).catch(() => {});
});

test('lv-snapshot of an active origin: the LVM2 stack, the COW zeroed, the snapshot keeps the old data', async () => {
  const a0 = writeAt(mapper('data'), 0, 64 * 1024);
  const a1 = writeAt(mapper('data'), 5 * MiB, 64 * 1024);
  // what an old snapshot could have left where the COW goes: garbage that must not be read as a header
  const probe = lvSnapshot(envelope().vg, { origin: 'data', name: 'snap', size: '8M' }).vg;
  const cowLv = probe.lvs.find((l) => l.name === 'snap')!;
  const area = cowLv.segments[0].areas[0] as { pv: string; pe: number };
  const pv = probe.pvs.find((p) => p.id === area.pv)!;
  const cowAt = (pv.pe_start + area.pe * probe.extent_size) * 512;
  const cowDev = envelope().devices[area.pv];
  writeAt(cowDev, cowAt, 4096);

  await change((vg) => lvSnapshot(vg, { origin: 'data', name: 'snap', size: '8M' }).vg);
  const t = await namedTables(`${VG}-`);
  assert.equal(t.get('data'), ['0 32768 snapshot-origin <data-real>']);
  assert.equal(t.get('snap'), ['0 32768 snapshot <data-real> <snap-cow> P 8']);
  assert.match(t.get('data-real')![0], /^0 32768 linear \d+:\d+ \d+$/);
  assert.match(t.get('snap-cow')![0], /^0 16384 linear \d+:\d+ \d+$/);
  const env = envelope();
  const uuid = (lv: string) => `DVM-${env.vg.id}-${env.vg.lvs.find((l) => l.name === lv)!.id}`;
  const info = new Map((await dmInfo()).map((d) => [d.name, d.uuid]));
  assert.is(info.get(`${VG}-data-real`), `${uuid('data')}-real`);
  assert.is(info.get(`${VG}-snap-cow`), `${uuid('snap')}-cow`);
  assert.is(info.get(`${VG}-snap`), uuid('snap'));
  await assertConverged('after lv-snapshot');
  // the kernel found a new, empty snapshot (a zeroed header), not our garbage
  const s = parseSnapshotStatus((await status(`${VG}-snap`)).split(' ').slice(3).join(' '));
  assert.is(s.state, 'valid', await status(`${VG}-snap`));

  const b0 = writeAt(mapper('data'), 0, 64 * 1024);
  await dropCaches();
  assert.ok(readAt(mapper('data'), 0, b0.length).equals(b0), 'origin reads the new data');
  assert.ok(readAt(mapper('snap'), 0, a0.length).equals(a0), 'snapshot still reads the old data');
  assert.ok(readAt(mapper('snap'), 5 * MiB, a1.length).equals(a1), 'and what was never overwritten');
  const after = parseSnapshotStatus((await status(`${VG}-snap`)).split(' ').slice(3).join(' '));
  assert.ok(after.state === 'valid' && s.state === 'valid' && after.allocated > s.allocated, `chunks copied: ${JSON.stringify(after)}`);
  // writes to the snapshot stay in the snapshot
  const w = writeAt(mapper('snap'), 6 * MiB, 4096);
  await dropCaches();
  assert.ok(readAt(mapper('snap'), 6 * MiB, 4096).equals(w));
  assert.not.ok(readAt(mapper('data'), 6 * MiB, 4096).equals(w));
});

test('deactivating a snapshot deactivates the stack; activating the origin brings both back, data intact', async () => {
  const before = readAt(mapper('snap'), 0, 64 * 1024);
  assert.ok(activate(envelope(), { deactivate: ['snap'] }).result.ok);
  assert.not.ok((await dmInfo()).some((d) => d.name.startsWith(`${VG}-`)), 'the whole stack is gone');
  assert.ok(activate(envelope(), { lvs: ['data'] }).result.ok);
  await dropCaches();
  assert.ok(readAt(mapper('snap'), 0, before.length).equals(before), 'the snapshot reads as before (its COW was kept, not zeroed again)');
  await assertConverged('after reactivation');
});

test('lv-remove of the snapshot with --sync: the origin goes back to a plain table with its data', async () => {
  const cur = readAt(mapper('data'), 0, 64 * 1024);
  await change((vg) => lvRemove(vg, { name: 'snap' }).vg);
  const t = await namedTables(`${VG}-`);
  assert.equal([...t.keys()], ['data']);
  assert.match(t.get('data')![0], /^0 32768 linear /);
  await dropCaches();
  assert.ok(readAt(mapper('data'), 0, cur.length).equals(cur));
  await assertConverged('after lv-remove');
});

test('a snapshot that overflows is invalid in the kernel and reported so (lv_attr I), never read as good; removing it frees the origin', async () => {
  await change((vg) => lvSnapshot(vg, { origin: 'data', name: 'tiny', size: '1e' }).vg);
  const rows = () => Object.fromEntries(lvRows(envelope(), query(vgScope(envelope().vg.id)), { all: false }).map((r) => [r.lv_name, [r.lv_attr, r.data_percent]]));
  assert.equal(rows().tiny, ['swi-a-s---', 0], 'a fresh snapshot: valid, empty');
  // 8 MiB of new data into the origin: twice the 4 MiB of COW space
  for (let off = 0; off < 8 * MiB; off += MiB) writeAt(mapper('data'), off, MiB);
  await sh('sync', []);
  assert.is(parseSnapshotStatus((await status(`${VG}-tiny`)).split(' ').slice(3).join(' ')).state, 'invalid', 'the kernel invalidated it');
  assert.equal(rows().tiny, ['swi-I-s---', null], 'report says invalid, no Data%');
  await dropCaches();
  const r = await execa('dd', [`if=${mapper('tiny')}`, 'of=/dev/null', 'bs=4096', 'count=1', 'iflag=direct'], { reject: false });
  assert.is.not(r.exitCode, 0, 'an invalid snapshot cannot be read');
  const cur = readAt(mapper('data'), 0, MiB);
  await change((vg) => lvRemove(vg, { name: 'tiny' }).vg);
  assert.equal([...(await namedTables(`${VG}-`)).keys()], ['data']);
  await dropCaches();
  assert.ok(readAt(mapper('data'), 0, MiB).equals(cur), 'the origin kept every write');
  await assertConverged('after removing the overflowed snapshot');
});

test('a snapshot of a mounted ext4 taken under a running writer passes fsck', async () => {
  await sh('mkfs.ext4', ['-q', '-F', mapper('data')]);
  mkdirSync(mnt, { recursive: true });
  await sh('mount', [mapper('data'), mnt]);
  const writer = execa('sh', ['-c', `i=0; while :; do i=$((i+1)); dd if=/dev/urandom of=${mnt}/f$((i % 8)) bs=64k count=8 conv=fsync 2>/dev/null; done`], { reject: false });
  try {
    await new Promise((r) => setTimeout(r, 2000));
    await change((vg) => lvSnapshot(vg, { origin: 'data', name: 'fs', size: '8M' }).vg);
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    writer.kill('SIGKILL');
    await writer;
  }
  const r = await execa('e2fsck', ['-f', '-n', mapper('fs')], { reject: false });
  assert.is(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  await assertConverged('after a snapshot of a mounted origin');
  await sh('umount', [mnt]);
  await change((vg) => lvRemove(vg, { name: 'fs' }).vg);
  await assertConverged('after removing it');
});

/** Run the first k steps of a program, as a dmexec killed after step k would have. */
function runPrefix(p: DmProgram, k: number) {
  const r = runProgram({ ...p, steps: p.steps.slice(0, k) });
  assert.ok(r.ok, `dmexec prefix ${k}: ${JSON.stringify(r.steps.find((x) => !x.ok))}`);
}
const withVg = (vg: Vg): Envelope => ({ ...envelope(), vg });

test('killed after every step of the snapshot create, remove and merge programs: the next run converges', async () => {
  const gen0 = envelope().vg;
  const gen1 = lvSnapshot(gen0, { origin: 'data', name: 'k', size: '8M' }).vg;
  const gen2 = lvMerge(gen1, { name: 'k' }).vg;
  // as tm does before committing gen1: its COW header zeroed
  const zeroCow = () => {
    for (const z of cowHeaderWrites(gen1, gen1.lvs.filter((l) => l.name === 'k'))) {
      const fd = openSync(envelope().devices[z.pv], 'r+');
      writeSync(fd, Buffer.alloc(z.length), 0, z.length, z.offset);
      fsyncSync(fd);
      closeSync(fd);
    }
  };
  await dropCaches();
  const origin = sha(readAt(mapper('data'), 0, 4 * MiB));
  const check = async (what: string, vg: Vg) => {
    assert.equal(planFor(withVg(vg), {}).steps, [], `${what}: converged`);
    await assertNothingSuspended(what, VG);
    await dropCaches();
    assert.is(sha(readAt(mapper('data'), 0, 4 * MiB)), origin, `${what}: origin intact`);
    if (vg === gen1) {
      assert.is(sha(readAt(mapper('k'), 0, 4 * MiB)), origin, `${what}: the snapshot reads the origin`);
      assert.is(parseSnapshotStatus((await status(`${VG}-k`)).split(' ').slice(3).join(' ')).state, 'valid', what);
    }
  };
  // create, killed after step k, then rolled forward (tm recover after the commit) or back (before it)
  const create = planFor(withVg(gen1), {});
  assert.ok(create.steps.length >= 10, `a real program: ${create.steps.map((x) => x.op).join(' ')}`);
  for (let k = 1; k < create.steps.length; k++) {
    zeroCow();
    runPrefix(planFor(withVg(gen1), {}), k);
    const forward = k % 2 === 0;
    assert.ok(participant(withVg(forward ? gen1 : gen0), forward ? 'commit' : 'abort'), `recover after create step ${k}`);
    await check(`create step ${k}, ${forward ? 'forward' : 'back'}`, forward ? gen1 : gen0);
    if (forward) assert.ok(participant(withVg(gen0), 'commit'), 'and off again');
  }
  // prepare killed after each step, rolled back
  zeroCow();
  const staged = planFor(withVg(gen1), {}, 'prepare');
  for (let k = 0; k <= staged.steps.length; k++) {
    runPrefix(planFor(withVg(gen1), {}, 'prepare'), k);
    assert.ok(participant(withVg(gen0), 'abort'), `abort after prepare step ${k}`);
    await check(`prepare step ${k}, rolled back`, gen0);
  }
  // remove (the commit phase of lv-remove --sync), killed after step k: rolled forward
  zeroCow();
  assert.ok(participant(withVg(gen1), 'commit'));
  const remove = planFor(withVg(gen0), {});
  for (let k = 1; k < remove.steps.length; k++) {
    runPrefix(planFor(withVg(gen0), {}), k);
    assert.ok(participant(withVg(gen0), 'commit'), `recover after remove step ${k}`);
    await check(`remove step ${k}, forward`, gen0);
    zeroCow();
    assert.ok(participant(withVg(gen1), 'commit'), 'and the snapshot back');
  }
  // merge start, killed after step k: rolled forward; the merge runs (nothing to merge back: the data is the same)
  const merge = planFor(withVg(gen2), {});
  assert.ok(merge.steps.length >= 3, merge.steps.map((x) => x.op).join(' '));
  runPrefix(merge, 1);
  assert.ok(participant(withVg(gen2), 'commit'), 'recover after merge step 1');
  assert.equal(planFor(withVg(gen2), {}).steps, [], 'merging: converged');
  await assertNothingSuspended('merging', VG);
  await dropCaches();
  assert.is(sha(readAt(mapper('data'), 0, 4 * MiB)), origin, 'merging: origin intact');
  // back to the committed metadata: the merged snapshot's stack goes (as a finished merge would drop it)
  for (let i = 0; i < 60; i++) {
    const st = parseSnapshotStatus((await status(`${VG}-data`)).split(' ').slice(3).join(' '));
    if (st.state === 'valid' && st.allocated === st.metadata) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(participant(withVg(gen0), 'commit'));
  await check('merged and dropped', gen0);
});

test('lv-merge with --sync: snapshot-merge over the COW; the kernel rolls the origin back', async () => {
  const a = writeAt(mapper('data'), 0, 64 * 1024);
  await change((vg) => lvSnapshot(vg, { origin: 'data', name: 'm', size: '8M' }).vg);
  const b = writeAt(mapper('data'), 0, 64 * 1024);
  await dropCaches();
  assert.ok(readAt(mapper('data'), 0, b.length).equals(b));
  await change((vg) => lvMerge(vg, { name: 'm' }).vg);
  const t = await namedTables(`${VG}-`);
  assert.equal(t.get('data'), ['0 32768 snapshot-merge <data-real> <m-cow> P 8']);
  assert.not.ok(t.has('m'), 'the merging snapshot has no device');
  await assertConverged('merging');
  // the origin reads the snapshot's data at once, and the kernel copies it back
  await dropCaches();
  assert.ok(readAt(mapper('data'), 0, a.length).equals(a), 'origin rolled back');
  let st = parseSnapshotStatus('');
  for (let i = 0; i < 120; i++) {
    st = parseSnapshotStatus((await status(`${VG}-data`)).split(' ').slice(3).join(' '));
    if (st.state === 'valid' && st.allocated === st.metadata) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(st.state === 'valid' && st.allocated === st.metadata, `merge done: ${JSON.stringify(st)}`);
  await dropCaches();
  assert.ok(readAt(`/dev/mapper/${VG}-data-real`, 0, a.length).equals(a), 'the data is back on the origin itself');
  // the next tm update --sync (any mutator; here through the real CLIs) sees the merge done and drops the snapshot
  const r = await execa(process.execPath, [binPath('tm'), 'update', VG, ...paths, '--sync', SYNC_CMD, '--', 'lv-change', 'data', '--addtag', 'merged'], { reject: false });
  assert.is(r.exitCode, 0, String(r.stderr));
  assert.match(String(r.stderr), /snapshot 'm' has merged into its origin: dropped from the metadata/);
  assert.equal(envelope().vg.lvs.map((l) => l.name), ['data']);
  const t2 = await namedTables(`${VG}-`);
  assert.equal([...t2.keys()], ['data']);
  assert.match(t2.get('data')![0], /^0 32768 linear /);
  await dropCaches();
  assert.ok(readAt(mapper('data'), 0, a.length).equals(a), 'the rolled-back data, now on a plain origin');
  await assertConverged('after the merge is dropped');
});

test('LVM2 builds the same stack for the same layout (names, uuid suffixes, tables)', async () => {
  mkdirSync('/tmp/dvm-lvm-snap', { recursive: true });
  writeFileSync('/tmp/dvm-lvm-snap/lvm.conf', 'activation { udev_sync=0 udev_rules=0 monitoring=0 }\ndevices { obtain_device_list_from_udev=0 }\n');
  const env = { LVM_SYSTEM_DIR: '/tmp/dvm-lvm-snap' };
  const lvm = (...a: string[]) => sh('lvm', a, { env });
  const { devs: loops } = await makeLoops(1, 64);
  try {
    await lvm('pvcreate', '-y', '-ff', loops[0]);
    await lvm('vgcreate', '-y', 'lvmsnap', loops[0]);
    await lvm('lvcreate', '-y', '-n', 'data', '-L', '16M', 'lvmsnap');
    await lvm('lvcreate', '-y', '-s', '-n', 'snap', '-L', '8M', 'lvmsnap/data');
    const theirs = await namedTables('lvmsnap-');
    const uuids = new Map((await dmInfo()).filter((d) => d.name.startsWith('lvmsnap-')).map((d) => [d.name.slice('lvmsnap-'.length), d.uuid]));
    await lvm('vgchange', '-an', 'lvmsnap');
    await lvm('vgremove', '-y', '-f', 'lvmsnap');
    // LVM2's dm devices and uuid suffixes: the hidden layers are <lv>-real and <snap>-cow
    assert.equal([...theirs.keys()].sort(), ['data', 'data-real', 'snap', 'snap-cow']);
    assert.match(uuids.get('data-real')!, /^LVM-\w+-real$/);
    assert.match(uuids.get('snap-cow')!, /^LVM-\w+-cow$/);
    assert.match(uuids.get('snap')!, /^LVM-\w+$/);
    // the same table shapes as ours (device numbers replaced by names; PV offsets differ by layout)
    const shape = (l: string) => l.replace(/ linear \d+:\d+ \d+$/, ' linear PV');
    assert.equal(theirs.get('data'), ['0 32768 snapshot-origin <data-real>']);
    assert.equal(theirs.get('snap'), ['0 32768 snapshot <data-real> <snap-cow> P 8']);
    assert.equal(theirs.get('data-real')!.map(shape), ['0 32768 linear PV']);
    assert.equal(theirs.get('snap-cow')!.map(shape), ['0 16384 linear PV']);
    // merge, as lvconvert --merge on an active, unused origin
  } finally {
    await sh('losetup', ['-d', loops[0]]).catch(() => {});
  }
});

test.run();
