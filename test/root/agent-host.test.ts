// The generic filesystem changes on real loop devices: the blank test (an LVM
// or dvm label, a partition table, an unreadable device are not blank), mkfs
// then fsck then a nosuid,nodev mount, holders and exclusive opens seen,
// online grow verified on the device and the filesystem, offline ext4 shrink,
// xfs too; and a filesystem damaged on purpose is mounted read-only or
// reported unmountable with the reason, and never formatted, through the
// executor and its gate.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, truncateSync, writeSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensurePackages } from '../helpers/packages.js';
import { apply, commandRunner, realHost, type ApplyEffects } from '../../src/agent/apply/index.js';
import type { Backend, NodeDevice } from '../../src/agent/backend/types.js';
import type { PlanDoc, Volume } from '../../src/agent/docs.js';
import { plan } from '../../src/agent/plan/index.js';
import { discoverLocal } from '../../src/agent/local/index.js';
import { MemStore, leadershipFor } from '../helpers/mem-store.js';

ensurePackages({ e2fsprogs: '/usr/sbin/mkfs.ext4', xfsprogs: '/usr/sbin/mkfs.xfs', 'util-linux': '/usr/sbin/losetup', fdisk: '/usr/sbin/sfdisk' });

const MiB = 1024 * 1024;
const dir = mkdtempSync(path.join(tmpdir(), 'dvm-agent-host-'));
const root = path.join(dir, 'mnt');
const host = realHost(commandRunner());
const loops: string[] = [];

function loopOf(file: string, size: number): string {
  truncateSync(openAndClose(file), size);
  const dev = execFileSync('losetup', ['-f', '--show', file], { encoding: 'utf8' }).trim();
  loops.push(dev);
  return dev;
}
function openAndClose(file: string): string {
  closeSync(openSync(file, 'a'));
  return file;
}
function writeAt(dev: string, offset: number, data: Buffer): void {
  const fd = openSync(dev, 'r+');
  try {
    writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
  execFileSync('blockdev', ['--flushbufs', dev]);
}
const zero = (dev: string, offset: number, len: number) => writeAt(dev, offset, Buffer.alloc(len));

/** A node plane over plain loop devices: the volume id is the backing file's name. */
function loopBackend(files: Record<string, string>): Backend {
  const find = (v: Volume): NodeDevice | null => {
    const f = files[v.id];
    const out = execFileSync('losetup', ['-j', f, '-O', 'NAME', '-n'], { encoding: 'utf8' }).trim().split('\n')[0];
    if (!out) return null;
    const size = Number(readFileSync(`/sys/class/block/${path.basename(out)}/size`, 'utf8')) * 512;
    return { path: out, identity: f, size };
  };
  return {
    control: null,
    volumeIdPattern: /^vol-[0-9]+$/,
    close: async () => {},
    node: {
      findDevice: async (v) => find(v),
      verifyDevice: async (v, p) => {
        const d = find(v);
        if (!d) return 'no loop device';
        if (realpathSync(d.path) !== realpathSync(p)) return `'${p}' is not backed by ${files[v.id]}`;
        return d.size === v.size ? null : `size ${d.size} is not ${v.size}`;
      },
      refresh: async (v) => {
        const d = find(v);
        if (d) execFileSync('losetup', ['-c', d.path]);
        return find(v);
      },
      release: async (v) => {
        const d = find(v);
        if (d) execFileSync('losetup', ['-d', d.path]);
      },
    },
  };
}

test.after(() => {
  for (const l of loops) {
    try {
      execFileSync('umount', [l], { stdio: 'ignore' });
    } catch {
      /* not mounted */
    }
    try {
      execFileSync('losetup', ['-d', l], { stdio: 'ignore' });
    } catch {
      /* gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

test('blank test: a fresh device is blank; an LVM label, a dvm label, a partition table are not', async () => {
  const dev = loopOf(path.join(dir, 'blank.img'), 32 * MiB);
  assert.equal(await host.probe(dev), { blank: true, signature: null, fs_size: null, error: null });
  const lvm = Buffer.alloc(512);
  lvm.write('LABELONE', 0, 'latin1');
  writeAt(dev, 512, lvm);
  let p = await host.probe(dev);
  assert.is(p.blank, false);
  assert.ok(p.error === 'an LVM label' || /LVM2_member/.test(String(p.signature?.type)), JSON.stringify(p));
  zero(dev, 0, MiB);
  const dvm = Buffer.alloc(512);
  dvm.write('DVMLABEL', 0, 'latin1');
  writeAt(dev, 512, dvm);
  p = await host.probe(dev);
  assert.is(p.blank, false);
  assert.is(p.error, 'a dvm label');
  zero(dev, 0, MiB);
  execFileSync('sfdisk', ['-q', dev], { input: 'label: gpt\n,8M\n' });
  p = await host.probe(dev);
  assert.is(p.blank, false, JSON.stringify(p));
  assert.match(String(p.error), /partition table/);
});

test('ext4: mkfs, fsck, a nosuid,nodev mount, holders seen, online grow verified, offline shrink', async () => {
  const file = path.join(dir, 'e.img');
  const dev = loopOf(file, 64 * MiB);
  const uuid = await host.mkfs(dev, 'ext4', 'e');
  const p = await host.probe(dev);
  assert.equal(p.signature, { type: 'ext4', uuid, partition: null });
  assert.is(p.blank, false);
  assert.ok(p.fs_size! > 60 * MiB && p.fs_size! <= 64 * MiB, String(p.fs_size));
  assert.is((await host.fsck(dev, 'ext4')).code, 0);
  const mp = path.join(root, 'e');
  await host.mount(dev, mp, 'ext4', false);
  const m = await host.mountedAt(dev);
  assert.is(m?.path, mp);
  assert.is(m?.read_only, false);
  const opts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.includes(` ${mp} `))!;
  assert.match(opts, /nosuid/);
  assert.match(opts, /nodev/);
  assert.is(await host.held(dev), null, 'a mount is not a holder');
  assert.match(String(await host.inUse!(dev)), /EBUSY/, 'an exclusive open fails while mounted');
  truncateSync(file, 128 * MiB);
  execFileSync('losetup', ['-c', dev]);
  // Online where the ioctl is permitted; offline (unmount, resize, mount again) where it is not.
  await host.growFs(dev, mp, 'ext4');
  assert.ok((await host.probe(dev)).fs_size! > 120 * MiB);
  assert.is((await host.mountedAt(dev))?.path, mp, 'mounted again after the grow');
  await host.unmount(mp);
  assert.is(await host.mountedAt(dev), null);
  assert.is(await host.inUse!(dev), null);
  await host.shrinkFs(dev, 'ext4', 96 * MiB);
  const s = (await host.probe(dev)).fs_size!;
  assert.ok(s <= 96 * MiB && s > 90 * MiB, String(s));
});

test('a process holding the device open is seen', async () => {
  const dev = loopOf(path.join(dir, 'h.img'), 16 * MiB);
  const { spawn } = await import('node:child_process');
  const child = spawn('sleep', ['30'], { stdio: [openSync(dev, 'r'), 'ignore', 'ignore'] });
  await new Promise((r) => setTimeout(r, 200));
  try {
    assert.match(String(await host.held(dev)), /open by process/);
  } finally {
    child.kill('SIGKILL');
  }
});

test('xfs: mkfs, check, mount, online grow', async () => {
  const file = path.join(dir, 'x.img');
  const dev = loopOf(file, 320 * MiB);
  const uuid = await host.mkfs(dev, 'xfs', 'x');
  assert.is((await host.probe(dev)).signature?.uuid, uuid);
  assert.is((await host.fsck(dev, 'xfs')).code, 0);
  const mp = path.join(root, 'x');
  await host.mount(dev, mp, 'xfs', false);
  truncateSync(file, 512 * MiB);
  execFileSync('losetup', ['-c', dev]);
  await host.growFs(dev, mp, 'xfs');
  assert.ok((await host.probe(dev)).fs_size! > 480 * MiB);
  await host.unmount(mp);
});

/** A dataset formatted by us, then damaged; the agent (discovery, plan, apply) runs on it. */
async function damaged(name: string, damage: (dev: string) => void) {
  const file = path.join(dir, `${name}.img`);
  const dev = loopOf(file, 64 * MiB);
  const uuid = await host.mkfs(dev, 'ext4', name);
  damage(dev);
  const id = '33333333-0000-4000-8000-000000000001';
  const v: Volume = { id: 'vol-1', dataset: id, name: `dvm-${name}`, size: 64 * MiB, status: 'in-use', attached: 'n1', metadata: {} };
  const backend = loopBackend({ 'vol-1': file });
  const store = new MemStore('33333333-0000-4000-8000-000000000000');
  await store.updateDesired((d) => ({ ...d, datasets: { [id]: { name, size: 64 * MiB, filesystem: 'ext4', node: 'n1', mount: null, deleted: false, changed: new Date().toISOString() } } }));
  await store.updateStatus(id, () => ({ format: 'dvm.dataset-status/1', id, phase: 'pending', reason: 'x', error: null, since: new Date().toISOString(), by: 'n1', observed: null, markers: {}, formatted: { volume: 'vol-1', filesystem: 'ext4', uuid, at: new Date().toISOString(), by: 'n1' } }));
  const mkfsCalls: string[] = [];
  const run = commandRunner();
  const counting = realHost(async (cmd, args, o) => {
    if (cmd.startsWith('mkfs')) mkfsCalls.push(`${cmd} ${args.join(' ')}`);
    return run(cmd, args, o);
  });
  const fx: ApplyEffects = { node: 'n1', backend, store, leadership: leadershipFor(store, 'c'), host: counting, mountRoot: root, now: () => new Date() };
  const outcomes: { plan: PlanDoc; results: string[] }[] = [];
  for (let pass = 0; pass < 3; pass++) {
    const st = await discoverLocal({ node: 'n1', mountRoot: root, volumes: [v], nodePlane: backend.node, host: counting, apps: [], now: () => new Date() });
    const p = plan({
      desired: (await store.readDesired()).value,
      statuses: await store.readStatuses(),
      listing: { format: 'dvm.volumes/1', backend: 'loop', listed_at: new Date().toISOString(), listed_by: 'c', volumes: [v], limits: { allocation_unit: MiB, min_size: MiB, max_size: 2 ** 40, per_node: null, max_volumes: null, max_bytes: null, can_shrink: true, can_snapshot: false } },
      nodes: { n1: { state: st, alive: true }, c: { state: null, alive: true, leader: true } },
      node: 'n1', credentialed: false, now: new Date().toISOString(),
    });
    const r = await apply(p, fx);
    outcomes.push({ plan: p, results: r.results.map((x) => `${x.action} ${x.ok ? 'ok' : 'failed'}: ${x.message}`) });
  }
  // Also the gate, asked directly: an mkfs step on this device is refused.
  const forced = await apply({ format: 'dvm.dataset-plan/1', node: 'n1', credentialed: false, waiting_for: [], datasets: {}, steps: [{ dataset: id, action: 'mkfs', runs_on: 'node:n1', volume: 'vol-1', args: { device: dev, filesystem: 'ext4', volume: v }, expect: 'x', deadline_ms: 1000 }] }, fx);
  const m = await host.mountedAt(dev);
  if (m) await host.unmount(m.path);
  return { outcomes, mkfsCalls, forced: forced.results[0], mounted: m, status: (await store.readStatuses())[id], id };
}

test('a mounted filesystem is probed once while it stays mounted; a grow, a remount or an unmount makes the next probe look again', async () => {
  const file = path.join(dir, 'memo.img');
  const dev = loopOf(file, 64 * MiB);
  const calls: string[] = [];
  const run = commandRunner();
  let clock = 1_000_000;
  const h = realHost(async (cmd, args, o) => {
    calls.push(cmd);
    return run(cmd, args, o);
  }, () => clock);
  await h.mkfs(dev, 'ext4', 'memo');
  const probes = () => calls.filter((c) => c === 'blkid' || c === 'dumpe2fs').length;
  calls.length = 0;
  await h.probe(dev);
  await h.probe(dev);
  assert.is(probes(), 4, 'unmounted: blkid and dumpe2fs every time');
  const mnt = path.join(root, 'memo');
  await h.mount(dev, mnt, 'ext4', false);
  calls.length = 0;
  const first = await h.probe(dev);
  const again = await h.probe(dev);
  assert.is(probes(), 2, 'mounted: the second probe reuses the first');
  assert.equal(again, first);
  assert.is(first.fs_size, 64 * MiB);
  // A grow through the host drops the memo and the new size is seen.
  truncateSync(file, 128 * MiB);
  execFileSync('losetup', ['-c', dev]);
  await h.growFs(dev, mnt, 'ext4');
  calls.length = 0;
  const grown = await h.probe(dev);
  assert.ok(probes() >= 2, 'probed anew after the grow');
  assert.is(grown.fs_size, 128 * MiB);
  // A resize made by hand is seen once the memo's age passes.
  await h.probe(dev);
  calls.length = 0;
  clock += 600_001;
  await h.probe(dev);
  assert.is(probes(), 2, 'an old memo is not used');
  // Discovery's reads (maxAgeMs): the kept mount table serves, and a change through the host drops it.
  const age = { maxAgeMs: 60_000 };
  assert.is((await h.mountedAt(dev, age))?.path, mnt);
  calls.length = 0;
  const kept = await h.probe(dev, age);
  assert.is(probes(), 0, 'discovery of a filesystem that stays mounted runs no process');
  assert.equal(kept, grown);
  // Unmounted, every probe looks again.
  await h.unmount(mnt);
  assert.is(await h.mountedAt(dev, age), null, 'an unmount through the host drops the kept mount table');
  calls.length = 0;
  await h.probe(dev);
  await h.probe(dev, age);
  assert.is(probes(), 4, 'unmounted again: no memo');
  // A mount made by hand: a kept table may miss it; a fresh read sees it.
  await h.mountedAt(dev, age);
  execFileSync('mount', [dev, mnt]);
  try {
    assert.is(await h.mountedAt(dev, age), null, 'the kept table answers (the documented miss)');
    assert.is((await h.mountedAt(dev))?.path, mnt, 'a fresh read sees the mount made by hand');
  } finally {
    execFileSync('umount', [mnt]);
  }
});

test('a superblock with damaged counts: mounted read-only (degraded) or unmountable, with the reason; never formatted', async () => {
  const r = await damaged('dmg', (dev) => {
    // s_free_blocks_count and s_free_inodes_count past the totals, s_inodes_per_group zeroed, checksum now wrong.
    const sb = Buffer.alloc(1024);
    const fd = openSync(dev, 'r');
    readSync(fd, sb, 0, 1024, 1024);
    closeSync(fd);
    sb.writeUInt32LE(0xffffff00, 0x0c);
    sb.writeUInt32LE(0xffffff00, 0x10);
    sb.writeUInt32LE(0, 0x28);
    writeAt(dev, 1024, sb);
  });
  assert.equal(r.mkfsCalls, [], 'no mkfs ran');
  assert.is(r.forced.ok, false);
  assert.is(r.forced.error_kind, 'refused');
  assert.match(r.forced.message!, /already formatted|never formatted again/);
  const text = JSON.stringify(r.outcomes);
  if (r.mounted) {
    assert.is(r.mounted.read_only, true, `mounted read-only: ${text}`);
    const last = r.outcomes[r.outcomes.length - 1].plan.datasets[r.id];
    assert.is(last.phase, 'degraded', text);
    assert.match(last.reason!, /read-only/);
  } else {
    const last = r.outcomes[r.outcomes.length - 1];
    const phase = last.plan.datasets[r.id];
    const said = phase.phase === 'blocked' ? phase.reason! : last.results.join(' ');
    assert.ok(phase.phase === 'blocked' || last.results.some((x) => /unmountable|failed/.test(x)), text);
    assert.match(said, /unmountable|never formatted again|not the recorded|mount/, text);
  }
  assert.is(r.status.formatted?.volume, 'vol-1', 'the formatted record stays');
});

test('a superblock with its magic wiped (blkid sees nothing, the device reads as blank): blocked by the formatted record, never formatted', async () => {
  const r = await damaged('nomagic', (dev) => zero(dev, 1024 + 0x38, 2));
  assert.equal(r.mkfsCalls, [], 'no mkfs ran');
  assert.is(r.mounted, null);
  for (const o of r.outcomes) {
    assert.is(o.plan.steps.length, 0, JSON.stringify(o.plan.steps));
    assert.is(o.plan.datasets[r.id].phase, 'blocked');
    assert.match(o.plan.datasets[r.id].reason!, /never formatted again/);
  }
  assert.is(r.forced.ok, false);
  assert.match(r.forced.message!, /refused: the dataset was already formatted/);
});

test.run();
