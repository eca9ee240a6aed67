// The agent killed (SIGKILL) at every external command boundary — before and
// after each mkfs, fsck, mount, umount, losetup, resize and backend call —
// and at 50 random moments, each followed by a restart: the same outcome,
// one volume per dataset, one mkfs per volume, never a mount on a device that
// is not attached here. Real loop devices, mkfs and mounts (root tier); the
// agent runs in the test's mount namespace so its mounts outlive it, as a
// crashed agent's do.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Cluster } from '../helpers/agent-cluster.js';
import { ensurePackages } from '../helpers/packages.js';
import { openDirStore } from '../../src/agent/store/dir/dir-store.js';
import { views } from '../../src/agent/cli/views.js';
import * as change from '../../src/agent/cli/changes.js';
import type { DatasetsDoc } from '../../src/agent/docs.js';

const MiB = 1 << 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RELEVANT = /^(before|after) (control\.|node\.|mkfs|e2fsck|fsck|xfs_repair|mount |umount|losetup|resize2fs|xfs_growfs)/;

async function allConverged(c: Cluster): Promise<boolean> {
  const s = await openDirStore(c.store);
  try {
    const v = Object.values(views((await s.readDesired()).value, await s.readStatuses()));
    return v.length > 0 && v.every((x) => x.converged);
  } finally {
    await s.close();
  }
}

/** Waits until converged or the agent died; true when converged. */
async function convergedOrDead(c: Cluster, node: string, ms = 90_000): Promise<boolean> {
  const a = c.agents.get(node)!;
  let dead = false;
  void a.exited.then(() => (dead = true));
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await allConverged(c)) return true;
    if (dead) return false;
    await sleep(100);
  }
  throw new Error(`neither converged nor dead after ${ms} ms:\n${c.log(node).slice(-3000)}`);
}

async function change_(c: Cluster, f: (d: DatasetsDoc) => DatasetsDoc): Promise<void> {
  const s = await openDirStore(c.store, { create: true });
  try {
    await s.updateDesired(f);
  } finally {
    await s.close();
  }
}

/** The invariants after convergence: one volume per dataset, one mkfs per volume, every mount on an attached loop device of its own volume. */
async function checkInvariants(c: Cluster, what: string): Promise<void> {
  const s = await openDirStore(c.store, { create: true });
  try {
    const desired = (await s.readDesired()).value;
    const statuses = await s.readStatuses();
    const listing = (await s.readListing())!;
    const records = Object.fromEntries(listing.volumes.map((v) => [v.id, v]));
    for (const [id, d] of Object.entries(desired.datasets)) {
      const vols = listing.volumes.filter((v) => v.dataset === id);
      assert.is(vols.length, 1, `${what}: one volume for '${d.name}' (${vols.map((v) => v.id).join(', ')})`);
      const st = statuses[id];
      assert.ok(st?.formatted?.volume === vols[0].id, `${what}: '${d.name}' formatted once, on its volume`);
      assert.is(st.observed?.mounted, `${c.mountRoot('n1')}/${d.name}`, `${what}: '${d.name}' mounted where it should be`);
    }
    const mkfs = c.mkfsCalls();
    assert.is(mkfs.length, Object.keys(desired.datasets).length, `${what}: one mkfs per volume: ${mkfs.join('; ')}`);
    // Every mount under the mount root is on a loop device backed by an attached volume's image.
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      if (!f[4]?.startsWith(c.mountRoot('n1') + '/')) continue;
      const source = f[f.indexOf('-') + 2];
      const backing = execFileSync('losetup', ['-n', '-O', 'BACK-FILE', source], { encoding: 'utf8' }).trim();
      const vol = listing.volumes.find((v) => backing && realpathSync(backing).includes(v.id));
      assert.ok(vol, `${what}: mount ${f[4]} on ${source} (${backing}) belongs to a listed volume`);
      assert.is(records[vol!.id].attached, 'n1', `${what}: ${f[4]} is on an attached volume`);
    }
  } finally {
    await s.close();
  }
}

test.before(() => ensurePackages({ xfsprogs: '/usr/sbin/mkfs.xfs', e2fsprogs: '/sbin/mkfs.ext4' }));

/** While detached: attached nowhere, not mounted, no loop device left on its image. */
async function checkDetached(c: Cluster, what: string): Promise<void> {
  const s = await openDirStore(c.store, { create: true });
  try {
    const listing = (await s.readListing())!;
    for (const v of listing.volumes) assert.is(v.attached, null, `${what}: volume ${v.id} attached nowhere`);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.not.ok(mounts.includes(` ${c.mountRoot('n1')}/a `), `${what}: not mounted`);
    const loops = execFileSync('losetup', ['-n', '-O', 'BACK-FILE', '-l'], { encoding: 'utf8' });
    for (const v of listing.volumes) assert.not.ok(loops.includes(v.id), `${what}: no loop device left on ${v.id}`);
  } finally {
    await s.close();
  }
}

/**
 * One scenario: create (xfs, so that it can grow online here) and mount, grow,
 * detach (umount, losetup -d, the backend's detach), then attach it again
 * (losetup, fsck, mount — never a second mkfs). Kill at boundary k (0: never).
 */
async function scenario(k: number, boundaryLog?: string): Promise<{ c: Cluster; killed: boolean }> {
  const c = new Cluster();
  await change_(c, (d) => change.create(d, { name: 'a', size: 320 * MiB, filesystem: 'xfs', node: 'n1', mount: null, meta: {} }, new Date()));
  const env: Record<string, string> = {};
  if (k > 0) env.DVM_AGENT_KILL_AT = String(k);
  if (boundaryLog) env.DVM_AGENT_BOUNDARY_LOG = boundaryLog;
  c.start('n1', { credentialed: true, namespace: false, env });
  let killed = false;
  const settle = async () => {
    if (!(await convergedOrDead(c, 'n1'))) {
      killed = true;
      const e = await c.agents.get('n1')!.exited;
      assert.is(e.signal, 'SIGKILL', `the agent died of the kill hook, not of something else:\n${c.log('n1').slice(-2000)}`);
      c.agents.delete('n1');
      c.start('n1', { credentialed: true, namespace: false });
      assert.ok(await convergedOrDead(c, 'n1'), `converged after the restart:\n${c.log('n1').slice(-3000)}`);
    }
  };
  try {
    await phases(c, settle, k);
  } catch (e) {
    // Leave nothing running for the next run (or the process) to trip on.
    await c.stop('n1').catch(() => undefined);
    await c.destroy().catch(() => undefined);
    throw e;
  }
  return { c, killed };
}

async function phases(c: Cluster, settle: () => Promise<void>, k: number): Promise<void> {
  await settle();
  await change_(c, (d) => change.grow(d, 'a', 64 * MiB, true, new Date()));
  await sleep(200); // let the grow's status go stale before looking for convergence
  await settle();
  await change_(c, (d) => change.detach(d, 'a', new Date()));
  await sleep(200);
  await settle();
  await checkDetached(c, `detached (k=${k})`);
  await change_(c, (d) => change.move(d, 'a', 'n1', new Date()));
  await sleep(200);
  await settle();
}

test('killed at every external command boundary and restarted: same outcome, one mkfs, mounts only on attached devices', async () => {
  const t0 = Date.now();
  // A fresh log: k indexes its lines, so nothing of an earlier run may be in it.
  const logDir = mkdtempSync(path.join(tmpdir(), 'dvm-crash-'));
  const logFile = path.join(logDir, 'boundaries.log');
  const { c: dry } = await scenario(0, logFile);
  await checkInvariants(dry, 'no kill');
  await dry.stop('n1');
  await dry.destroy();
  const labels = readFileSync(logFile, 'utf8').split('\n').filter((l) => l !== '');
  rmSync(logDir, { recursive: true, force: true });
  // Every boundary of a command that changes something (mkfs, fsck, mount,
  // umount, losetup, resize, grow, every control call but the listing); of the
  // read-only calls repeated every pass (list, findDevice, verifyDevice,
  // refresh) the first of each. 'before control.create' among them: the
  // loopback backend's listings are consistent (create_grace_ms 0), so the
  // restarted agent creates again once a fresh listing shows no volume.
  const seen = new Set<string>();
  const ks: number[] = [];
  for (const l of labels) {
    const [k, when, what] = l.split(' ');
    const label = `${when} ${what}`;
    if (!RELEVANT.test(l.slice(k.length + 1))) continue;
    const repeated = /^(control\.list|control\.limits|node\.)/.test(what);
    if (repeated && seen.has(label)) continue;
    seen.add(label);
    ks.push(Number(k));
  }
  assert.ok(ks.length >= 10, `boundaries found: ${labels.length}, relevant ${ks.length}`);
  // The detach and the re-attach are among them: umount, losetup -d and the backend's detach.
  for (const want of [/^before control\.create/, /^before umount/, /^before losetup --detach/, /^before losetup --find/, /^before control\.detach/, /^after control\.attach/])
    assert.ok(ks.some((k) => want.test(labels[k - 1].replace(/^\d+ /, ''))), `killed at ${want}: ${ks.map((k) => labels[k - 1]).join(' | ')}`);
  let killedRuns = 0;
  for (const k of ks) {
    const { c, killed } = await scenario(k);
    try {
      if (killed) killedRuns++;
      await checkInvariants(c, `killed at boundary ${k} (${labels[k - 1]})`);
    } finally {
      await c.stop('n1');
      await c.destroy();
    }
  }
  assert.ok(killedRuns >= ks.length * 0.7, `most runs were really killed: ${killedRuns} of ${ks.length}`);
  console.log(`crash points: ${ks.length} of ${labels.length} boundaries, ${killedRuns} killed runs, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
});

test('killed at 50 random moments while datasets are created and grown, restarted each time: converges with every invariant', async () => {
  const t0 = Date.now();
  const c = new Cluster();
  try {
    c.start('n1', { credentialed: true, namespace: false });
    let made = 0;
    for (let i = 0; i < 50; i++) {
      if (i % 10 === 0) {
        const name = `d${made++}`;
        await change_(c, (d) => change.create(d, { name, size: 64 * MiB, filesystem: 'ext4', node: 'n1', mount: null, meta: {} }, new Date()));
      }
      await sleep(Math.floor(Math.random() * 1500));
      await c.stop('n1', 'SIGKILL');
      c.start('n1', { credentialed: true, namespace: false });
    }
    const end = Date.now() + 120_000;
    while (!(await allConverged(c))) {
      if (Date.now() > end) assert.unreachable(`not converged after 50 kills:\n${c.log('n1').slice(-3000)}`);
      await sleep(200);
    }
    await checkInvariants(c, '50 random kills');
  } finally {
    await c.stop('n1');
    await c.destroy();
  }
  console.log(`random kills: 50, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
});

test.run();
