// Partitioned volumes on loopback with real loop devices, sfdisk, mkfs and
// mounts: `dataset create --partition` (and `adopt --partition` of a blank
// volume) gives the volume a partition table with one partition and the
// filesystem there; an adopted volume holding one
// partition with a filesystem is mounted from that partition, never
// formatted; a volume with two partitions is refused with the reason; a
// partitioned dataset moves to another node with its files and grows there
// (volume, partition, filesystem); shrinking it is refused with the reason. Two agents, each in its own mount namespace.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Cluster } from '../helpers/agent-cluster.js';
import { ensurePackages } from '../helpers/packages.js';
import { mountLine, premadeVolume, statusOf, waitListed } from '../helpers/apps-cluster.js';

const MiB = 1 << 20;
let c: Cluster;
const sh = (cmd: string, args: string[], input?: string) => execFileSync(cmd, args, { encoding: 'utf8', input });

/** Partitions `image` (sfdisk script), makes ext4 in partition 1 with one file, unless `fs` is false. */
function prepare(image: string, script: string, file: string | null): string | null {
  sh('sfdisk', ['--quiet', image], script);
  if (!file) return null;
  const dev = sh('losetup', ['-f', '--show', '-P', image]).trim();
  try {
    execFileSync('partx', ['--add', dev], { stdio: 'ignore' });
  } catch {
    /* the kernel read the table itself */
  }
  try {
    const p1 = `${dev}p1`;
    sh('mkfs.ext4', ['-q', '-F', p1]);
    const uuid = sh('blkid', ['-p', '-o', 'value', '-s', 'UUID', p1]).trim();
    const m = path.join(c.work, `prep-${path.basename(image)}`);
    mkdirSync(m);
    sh('mount', [p1, m]);
    writeFileSync(path.join(m, 'note'), file);
    sh('umount', [m]);
    return uuid;
  } finally {
    sh('losetup', ['-d', dev]);
  }
}

async function waitPhase(name: string, phase: string, reason?: RegExp, ms = 120_000): Promise<string> {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    const s = (await statusOf(c, name).catch(() => null))?.status;
    last = `${s?.phase}: ${s?.reason}`;
    if (s?.phase === phase && (!reason || reason.test(s.reason ?? ''))) return s.reason ?? '';
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name}: not ${phase} after ${ms} ms (last ${last})\n${c.logs()}`);
}

test.before(() => {
  ensurePackages({ fdisk: '/usr/sbin/sfdisk', e2fsprogs: '/sbin/mkfs.ext4', 'util-linux': '/usr/bin/partx' });
  c = new Cluster();
});
test.after(async () => {
  await c.destroy();
});

test('create --partition, adopt a partitioned volume, refuse two partitions, move, refuse a grow', async () => {
  const adopted = premadeVolume(c, 64 * MiB, (img) => prepare(img, 'label: dos\nstart=2048, type=83\n', null));
  const vAdopt = premadeVolume(c, 64 * MiB);
  const img = (id: string) => path.join(c.lb, 'volumes', `${id}.img`);
  const uuid = prepare(img(vAdopt), 'label: dos\nstart=2048, type=83\n', 'made beforehand\n')!;
  const vTwo = premadeVolume(c, 64 * MiB, (i) => prepare(i, 'label: dos\nstart=2048, size=16M, type=83\nstart=34816, type=83\n', null));
  const vBlank = premadeVolume(c, 64 * MiB);
  c.start('n1', { credentialed: true });
  c.start('n2');
  await waitListed(c, [adopted, vAdopt, vTwo, vBlank]);

  for (const args of [
    ['create', 'p', '--size', '64M', '--partition', '--node', 'n1'],
    ['adopt', 'q', '--volume', vAdopt, '--node', 'n1'],
    ['adopt', 'two', '--volume', vTwo, '--node', 'n1'],
    ['adopt', 'empty', '--volume', adopted, '--node', 'n1'],
    ['adopt', 'blank', '--volume', vBlank, '--partition', '--node', 'n1'],
  ]) {
    const r = await c.dataset(...args);
    assert.is(r.exitCode, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  await waitPhase('p', 'converged');
  await waitPhase('q', 'converged');
  await waitPhase('blank', 'converged');
  assert.match(await waitPhase('two', 'blocked', /2 partitions/), /never formatted/);
  assert.match(await waitPhase('empty', 'blocked', /holds no filesystem/), /never formatted/);

  // p: a dos table, one partition, the filesystem there and mounted from it.
  const pId = (await statusOf(c, 'p')).status!.formatted!.volume;
  const table = JSON.parse(sh('sfdisk', ['--json', img(pId)])) as { partitiontable: { label: string; partitions: { start: number; size: number }[] } };
  assert.is(table.partitiontable.label, 'dos');
  assert.is(table.partitiontable.partitions.length, 1);
  const pMount = (await statusOf(c, 'p')).status!.observed!.mounted!;
  const pLine = mountLine(c, 'n1', pMount)!;
  assert.match(pLine, / - ext4 \/dev\/loop\d+p1 /, `mounted from the partition: ${pLine}`);
  c.inNode('n1', 'sh', ['-c', `echo moved-with-it > '${pMount}/file' && sync`]);

  // q: mounted from its partition, not formatted, its file there.
  const qMount = (await statusOf(c, 'q')).status!.observed!.mounted!;
  assert.match(mountLine(c, 'n1', qMount)!, /\/dev\/loop\d+p1 /);
  assert.is(c.inNode('n1', 'cat', [path.join(qMount, 'note')]), 'made beforehand\n');
  assert.is((await statusOf(c, 'q')).status!.formatted!.uuid, uuid);
  // A blank adopted volume with --partition is partitioned like a created one.
  const blankTable = JSON.parse(sh('sfdisk', ['--json', img(vBlank)])) as { partitiontable: { label: string; partitions: unknown[] } };
  assert.equal([blankTable.partitiontable.label, blankTable.partitiontable.partitions.length], ['dos', 1]);
  assert.match(mountLine(c, 'n1', (await statusOf(c, 'blank')).status!.observed!.mounted!)!, /\/dev\/loop\d+p1 /);
  assert.is(c.mkfsCalls().length, 2, `one mkfs each for p and blank, on their partitions: ${c.mkfsCalls().join('; ')}`);
  for (const l of c.mkfsCalls()) assert.match(l, /\/dev\/loop\d+p1$/);

  // The volumes that are refused are untouched: the two-partition table is as made.
  const two = JSON.parse(sh('sfdisk', ['--json', img(vTwo)])) as { partitiontable: { partitions: unknown[] } };
  assert.is(two.partitiontable.partitions.length, 2);

  // A move: unmounted through the partition on n1, mounted from it on n2.
  let r = await c.dataset('move', 'p', '--to', 'n2');
  assert.is(r.exitCode, 0, r.stderr);
  await waitPhase('p', 'converged');
  const moved = (await statusOf(c, 'p')).status!.observed!;
  assert.is(moved.node, 'n2');
  assert.ok(!mountLine(c, 'n1', pMount), 'unmounted on n1');
  assert.is(c.inNode('n2', 'cat', [path.join(moved.mounted!, 'file')]), 'moved-with-it\n');

  // A grow on n2: the volume, its partition to the device's end, then the filesystem; the file stays.
  const before = (await statusOf(c, 'p')).status!;
  r = await c.dataset('grow', 'p', '+64M');
  assert.is(r.exitCode, 0, r.stderr);
  await waitPhase('p', 'converged');
  const after = JSON.parse(sh('sfdisk', ['--json', img(pId)])) as typeof table;
  assert.is(after.partitiontable.partitions.length, 1);
  assert.is(after.partitiontable.partitions[0].start, table.partitiontable.partitions[0].start, 'the partition starts where it did');
  assert.is((after.partitiontable.partitions[0].start + after.partitiontable.partitions[0].size) * 512, 128 * MiB, 'and now ends at the end of the grown volume');
  const df = c.inNode('n2', 'df', ['-B1', '--output=size', moved.mounted!]).split('\n')[1].trim();
  assert.ok(Number(df) > 100 * MiB, `the filesystem in the partition grew (df: ${df} bytes)`);
  assert.is(c.inNode('n2', 'cat', [path.join(moved.mounted!, 'file')]), 'moved-with-it\n');
  assert.is((await statusOf(c, 'p')).status!.formatted!.uuid, before.formatted!.uuid, 'the same filesystem');
  assert.is((await statusOf(c, 'p')).status!.observed!.mounted, before.observed!.mounted, 'mounted where it was');
  assert.is(c.mkfsCalls().length, 2, 'no mkfs for a grow');

  r = await c.dataset('shrink', 'p', '64M');
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(await waitPhase('p', 'blocked', /partition/), /does not shrink/);
});

test.run();
