// Applications end to end on loopback with real loop devices, mkfs and mounts:
// two agents (n1 credentialed, n2), each node in a mount namespace of its own,
// and the stand-in service (test/fixtures/standin-service.sh) as the
// application, running as a daemon that holds a lock shared by both nodes, so
// two copies running anywhere at once would be refused and recorded.
//  - svc: data in a plain directory on n1, a volume map gives it an empty
//    volume: migrated (checksums equal, the old directory kept), started from
//    the dataset; the map moves the unit to n2: stopped, moved, started there,
//    every record intact.
//  - fresh: a second empty volume for a second unit initialises empty.
//  - held: a volume made beforehand with the service's data is served without
//    mkfs or copy (the filesystem's UUID unchanged, the records intact).
//  - a unit dropped from the map is stopped and detached; `dataset list`
//    still shows it; destroying a dataset in use is refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Cluster } from '../helpers/agent-cluster.js';
import { ensurePackages } from '../helpers/packages.js';
import {
  applyMap, clearRuntime, defineApp, desired, mountLine, nodeName, premadeVolume, records, standinApp, statusOf, STANDIN, verifyManifest, waitConverged, waitListed,
} from '../helpers/apps-cluster.js';

const MiB = 1 << 20;
const N1 = nodeName(1);
const N2 = nodeName(2);
let c: Cluster;

const held = (lock: string) => !tryLock(lock);
function tryLock(lock: string): boolean {
  try {
    execFileSync('flock', ['-n', lock, 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const standin = (...args: string[]) => execFileSync('sh', [STANDIN, ...args], { encoding: 'utf8' });
const blkidUuid = (image: string) => execFileSync('blkid', ['-o', 'value', '-s', 'UUID', image], { encoding: 'utf8' }).trim();

test.before(() => {
  ensurePackages({ rsync: '/usr/bin/rsync', e2fsprogs: '/sbin/mkfs.ext4', 'util-linux': '/usr/bin/flock' });
  c = new Cluster({ nodeNamespaces: true });
});
test.after(async () => {
  // The copy started by hand in our namespace, if a failure came before the agent stopped it.
  for (const app of ['svc', 'fresh', 'held']) {
    try {
      standin('stop', '/', path.join(c.work, `${app}.lock`));
    } catch {
      /* none */
    }
  }
  await c.destroy();
  clearRuntime([N1, N2]);
});

test('stand-in service: migrated onto an empty volume, moved to n2 by the map, a second unit starts empty, a volume with data is served as it is', async () => {
  const w = c.work;
  const lock = (app: string) => path.join(w, `${app}.lock`);
  const dataDir = (node: string, app: string) => path.join(w, node, app);
  for (const n of [N1, N2]) mkdirSync(path.join(w, n));
  for (const app of ['svc', 'fresh', 'held']) for (const n of [N1, N2]) defineApp(c, n, app, standinApp(dataDir(n, app), lock(app)));

  // svc runs on n1 from a plain directory: three starts, three records, the last copy left running.
  const plain = dataDir(N1, 'svc');
  mkdirSync(plain, { mode: 0o750 });
  for (let i = 0; i < 3; i++) {
    standin('start', plain, lock('svc'));
    if (i < 2) standin('stop', plain, lock('svc'));
  }
  assert.ok(held(lock('svc')), 'svc runs before the map');
  const before = records(c, null, plain);
  assert.is(before.size, 3);

  // Volumes: two empty, one with the service's data made beforehand (ext4, data/ holding two records).
  const vSvc = premadeVolume(c, 64 * MiB);
  const vFresh = premadeVolume(c, 64 * MiB);
  const heldData = path.join(w, 'held-prep');
  const vHeld = premadeVolume(c, 64 * MiB, (image) => {
    execFileSync('mkfs.ext4', ['-q', '-F', image]);
    mkdirSync(heldData);
    execFileSync('mount', ['-o', 'loop', image, heldData]);
    try {
      mkdirSync(path.join(heldData, 'data'));
      standin('start', path.join(heldData, 'data'));
      standin('start', path.join(heldData, 'data'));
    } finally {
      execFileSync('umount', [heldData]);
    }
  });
  const heldImage = path.join(c.lb, 'volumes', `${vHeld}.img`);
  const uuid = blkidUuid(heldImage);
  assert.ok(uuid);

  c.start(N1, { credentialed: true, args: ['--apps-dir', path.join(w, `apps-${N1}`)] });
  c.start(N2, { args: ['--apps-dir', path.join(w, `apps-${N2}`)] });
  await waitListed(c, [vSvc, vFresh, vHeld]);
  const out = await applyMap(c, { 'svc/0': vSvc, 'fresh/0': vFresh, 'held/0': vHeld }, N1);
  assert.match(out, /svc-0: volume '.*' adopted for unit 'svc\/0'/);
  await waitConverged(c, 'map on n1');

  // svc: served from the dataset on n1, the originals intact plus the record of its start there.
  const svcMount = (await statusOf(c, 'svc-0')).status!.observed!.mounted!;
  assert.ok(mountLine(c, N1, svcMount), 'svc-0 mounted on n1');
  const bind = mountLine(c, N1, plain);
  assert.ok(bind && bind.split(' ')[3] === '/data', `the data directory is the dataset's data/: ${bind}`);
  verifyManifest(c, N1, plain);
  const onDataset = records(c, N1, plain);
  for (const [f, h] of before) assert.is(onDataset.get(f), h, `record ${f} migrated intact`);
  assert.is(onDataset.size, 4, 'one start on the dataset');
  const aside = readdirSync(path.join(w, N1)).filter((f) => f.startsWith('svc.dvm-old-'));
  assert.is(aside.length, 1, 'the old directory is kept, renamed');
  assert.equal(records(c, null, path.join(w, N1, aside[0])), before, 'the old directory untouched');
  assert.ok(held(lock('svc')), 'svc runs');
  assert.is(readFileSync(lock('svc') + '.served', 'utf8').trim().split('\n').pop(), plain);

  // fresh: initialised empty, started once.
  verifyManifest(c, N1, dataDir(N1, 'fresh'));
  assert.is(records(c, N1, dataDir(N1, 'fresh')).size, 1);
  assert.ok(held(lock('fresh')));

  // held: no mkfs, no copy; the same filesystem; its records intact plus one start.
  assert.is(c.mkfsCalls().length, 2, `mkfs only on the two empty volumes: ${c.mkfsCalls().join('; ')}`);
  assert.ok(!c.mkfsCalls().some((l) => l.includes(vHeld)));
  assert.is(blkidUuid(heldImage), uuid, 'the filesystem UUID is unchanged');
  assert.is((await statusOf(c, 'held-0')).status!.formatted!.uuid, uuid);
  verifyManifest(c, N1, dataDir(N1, 'held'));
  assert.is(records(c, N1, dataDir(N1, 'held')).size, 3);

  // The map moves svc/0 to n2: stopped on n1, moved, started from the same data on n2.
  const t0 = Date.now();
  await applyMap(c, { 'svc/0': { volume: vSvc, node: N2 }, 'fresh/0': vFresh, 'held/0': vHeld }, N1);
  await waitConverged(c, 'move svc/0 to n2');
  const moveMs = Date.now() - t0;
  const there = dataDir(N2, 'svc');
  assert.ok(!mountLine(c, N1, plain), 'no longer served on n1');
  assert.ok(!mountLine(c, N1, svcMount), 'unmounted on n1');
  verifyManifest(c, N2, there);
  const moved = records(c, N2, there);
  for (const [f, h] of onDataset) assert.is(moved.get(f), h, `record ${f} intact after the move`);
  assert.is(moved.size, 5);
  // One start per placement: three by hand on the plain directory, one on the dataset on n1, one on n2.
  assert.equal(readFileSync(lock('svc') + '.served', 'utf8').trim().split('\n'), [plain, plain, plain, plain, there]);
  assert.ok(held(lock('svc')), 'svc runs on n2');
  assert.is(c.mkfsCalls().length, 2, 'no mkfs for a move');

  // fresh/0 leaves the map: stopped, detached, the volume kept and still listed.
  await applyMap(c, { 'svc/0': { volume: vSvc, node: N2 }, 'held/0': vHeld }, N1);
  await waitConverged(c, 'fresh/0 leaves the map');
  assert.ok(!held(lock('fresh')), 'fresh stopped');
  assert.ok(!mountLine(c, N1, dataDir(N1, 'fresh')), 'fresh no longer served');
  const fresh = Object.values((await desired(c)).datasets).find((d) => d.name === 'fresh-0')!;
  assert.ok(fresh && fresh.node === null && !fresh.deleted && fresh.app === undefined, 'fresh-0 kept, attached nowhere');
  const list = await c.dataset('list');
  assert.match(list.stdout, /fresh-0/);
  assert.ok(existsSync(path.join(c.lb, 'volumes', `${vFresh}.img`)), 'its volume stays');

  // A dataset in use is not destroyed.
  const d = await c.dataset('destroy', 'svc-0');
  assert.is(d.exitCode, 1);
  assert.match(d.stderr, /bound to application 'svc'/);

  assert.not.ok(existsSync(lock('svc') + '.violations'), `two copies were started: ${existsSync(lock('svc') + '.violations') ? readFileSync(lock('svc') + '.violations', 'utf8') : ''}`);
  assert.not.ok(existsSync(lock('fresh') + '.violations'));
  assert.not.ok(existsSync(lock('held') + '.violations'));
  console.log(`NOTE apps-e2e: stand-in moved n1 -> n2 in ${(moveMs / 1000).toFixed(1)} s (map to converged)`);
  for (const n of [N1, N2]) assert.is((await c.stop(n)).code, 0, `${n} exits 0 on SIGTERM`);
});

test.run();
