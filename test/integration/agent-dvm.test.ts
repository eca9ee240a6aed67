// The dataset agent on --backend dvm:VG, on the real kernel: one credentialed
// agent (in this process: Node starts slowly in the VM) with the real host
// (mkfs, fsck, mount, resize2fs), a directory store and a dvm VG over two
// loop devices. A dataset is created (an LV tagged with its id), formatted
// once, mounted under the mount root from /dev/mapper, written, grown online
// (lv-extend through the two-phase commit, then resize2fs on the mounted
// filesystem), shrunk offline with a snapshot taken first and removed once the
// shrunk filesystem passed fsck, and destroyed (the LV gone, nothing left
// mapped). Then dataset-agent processes are killed (SIGKILL) at each step of a
// shrink and restarted: the next one finishes it, the data intact.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync, mkdirSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { makeLoops, query, sh } from '../helpers/vm-dm.js';
import { openDvm } from '../../src/agent/backends/dvm/index.js';
import { fromTags } from '../../src/agent/backends/dvm/tags.js';
import { openDirStore, type DirStore } from '../../src/agent/store/dir/dir-store.js';
import { runAgent } from '../../src/agent/loop/agent.js';
import { CallCounter, countingBackend } from '../../src/agent/loop/counting.js';
import { commandRunner, realHost } from '../../src/agent/apply/index.js';
import * as change from '../../src/agent/cli/changes.js';
import { views } from '../../src/agent/cli/views.js';
import { init, read } from '../../src/transaction-manager/ops.js';
import { closeAll, openLocked } from '../../src/transaction-manager/lock.js';
import { vgScope } from '../../src/lib/dm-doc.js';
import { binPath } from '../helpers/cli.js';

const MiB = 1 << 20;
const VG = `dvmag${process.pid}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function readVg(devs: string[], vg = VG) {
  const d = openLocked(devs, 'sh');
  try {
    return read(vg, d).env.vg;
  } finally {
    closeAll(d);
  }
}

async function converged(op: DirStore, what: string, log: string[], ms = 240_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const v = Object.values(views((await op.readDesired()).value, await op.readStatuses()));
    if (v.every((x) => x.converged)) return;
    if (Date.now() > until) assert.unreachable(`${what}: not converged: ${v.filter((x) => !x.converged).map((x) => `${x.name}: ${x.waiting}`).join('; ')}\n${log.slice(-20).join('\n')}`);
    await sleep(200);
  }
}

const mountOf = (dir: string) => readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[1] === dir);

test('create, format once, mount, write, grow online, shrink, destroy: a dataset on a dvm VG', async () => {
  const { dir: loopDir, devs } = await makeLoops(2, 160);
  const work = mkdtempSync('/tmp/dvm-agent-dvm-');
  const mountRoot = path.join(work, 'mnt');
  mkdirSync(mountRoot);
  // mkfs through a wrapper that counts: exactly one per volume over the whole test
  const wrappers = path.join(work, 'bin');
  mkdirSync(wrappers);
  const mkfsLog = path.join(work, 'mkfs.log');
  writeFileSync(mkfsLog, '');
  writeFileSync(path.join(wrappers, 'mkfs.ext4'), `#!/bin/sh\necho "$*" >> '${mkfsLog}'\nexec /sbin/mkfs.ext4 "$@"\n`, { mode: 0o755 });
  const d = openLocked(devs, 'ex');
  try {
    init(VG, d, { extentSize: 8192 });
  } finally {
    closeAll(d);
  }
  const store = path.join(work, 'store');
  const op = await openDirStore(store, { create: true });
  const agentStore = await openDirStore(store);
  const log: string[] = [];
  const stop = new AbortController();
  const counter = new CallCounter();
  const backend = await openDvm(VG, { node: 'n1', credentialed: true, cluster: (await op.readDesired()).value.cluster }, { devs });
  const done = runAgent({
    node: 'n1',
    credentialed: true,
    spec: `dvm:${VG}`,
    store: agentStore,
    backend: countingBackend(backend, counter),
    counter,
    host: realHost(commandRunner({ path: `${wrappers}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` })),
    mountRoot,
    appsDir: null,
    once: false,
    log: (l) => log.push(l),
    abort: stop.signal,
  });
  const target = path.join(mountRoot, 'a');
  try {
    await op.updateDesired((doc) => change.create(doc, { name: 'a', size: 32 * MiB, filesystem: 'ext4', node: 'n1', mount: null, meta: {} }, new Date()));
    await converged(op, 'create', log);
    const [id] = Object.keys((await op.readDesired()).value.datasets);
    const lvs = readVg(devs).lvs;
    assert.is(lvs.length, 1, 'one LV');
    assert.is(fromTags(lvs[0].tags).metadata['dvm.dataset'], id, "the LV carries the dataset's id");
    assert.is(fromTags(lvs[0].tags).node, 'n1');
    const m = mountOf(target);
    assert.ok(m, `mounted at ${target}\n${log.join('\n')}`);
    assert.match(m![0], new RegExp(`^/dev/mapper/${VG}-dvm--[0-9a-f]{20}$`), 'from /dev/mapper');
    assert.ok(m![3].split(',').includes('nosuid') && m![3].split(',').includes('nodev'), m![3]);
    const data = randomBytes(4 * MiB);
    writeFileSync(path.join(target, 'data'), data);
    await sh('sync', []);
    const before = statfsSync(target);

    await op.updateDesired((doc) => change.grow(doc, 'a', 16 * MiB, true, new Date()));
    await converged(op, 'grow', log);
    assert.ok(mountOf(target), 'still mounted: grown online');
    const after = statfsSync(target);
    assert.ok(after.blocks * after.bsize > before.blocks * before.bsize + 12 * MiB, `df grew: ${before.blocks * before.bsize} -> ${after.blocks * after.bsize}`);
    assert.is(readVg(devs).lvs[0].segments.reduce((n, s) => n + s.extent_count, 0), 12, '48 MiB of 4 MiB extents');
    assert.is(sha(readFileSync(path.join(target, 'data'))), sha(data));

    const logged = log.length;
    await op.updateDesired((doc) => change.shrink(doc, 'a', 40 * MiB, new Date()));
    await converged(op, 'shrink', log);
    const shrinkLog = log.slice(logged).join('\n');
    const at = (re: RegExp) => shrinkLog.search(re);
    assert.ok(at(/^a snapshot dvm-\S+ ok /m) >= 0, `a snapshot was taken before the shrink:\n${shrinkLog}`);
    assert.ok(at(/^a snapshot /m) < at(/^a shrink-fs \S+ ok /m) && at(/^a shrink-fs /m) < at(/^a fsck \S+ ok .*fsck exit 0/m), 'the shrunk filesystem checked');
    assert.ok(at(/^a fsck /m) < at(/^a remove-snapshot \S+ ok /m) && at(/^a remove-snapshot /m) < at(/^a resize \S+ ok /m), 'the snapshot removed after the check, before the volume shrank');
    assert.is(readVg(devs).lvs.length, 1, 'no snapshot LV left');
    assert.is(readVg(devs).lvs[0].segments.reduce((n, s) => n + s.extent_count, 0), 10, 'shrunk to 40 MiB');
    assert.ok(mountOf(target), 'mounted again after the offline shrink');
    assert.is(sha(readFileSync(path.join(target, 'data'))), sha(data), 'the data survived the shrink');

    await op.updateDesired((doc) => change.destroy(doc, 'a', new Date()));
    await converged(op, 'destroy', log);
    assert.not.ok(mountOf(target), 'unmounted');
    assert.equal(readVg(devs).lvs, [], 'the LV is gone');
    assert.equal(query(vgScope(readVg(devs).id)).devices, [], 'nothing left mapped');
    assert.is(readFileSync(mkfsLog, 'utf8').trim().split('\n').length, 1, 'one mkfs over the whole test');
  } finally {
    stop.abort();
    await done.catch(() => {});
    await agentStore.close();
    await op.close();
    spawnSync('umount', [target]);
    for (const dev of query(vgScope(readVg(devs).id)).devices) spawnSync('dmsetup', ['--noudevsync', 'remove', dev.name]);
    for (const dev of devs) spawnSync('losetup', ['-d', dev]);
    rmSync(work, { recursive: true, force: true });
    rmSync(loopDir, { recursive: true, force: true });
  }
});

const extents = (devs: string[], vg: string) => readVg(devs, vg).lvs.map((l) => l.segments.reduce((n, s) => n + s.extent_count, 0));

test('dataset-agent killed (SIGKILL) at each step of a shrink on dvm:VG: the next agent finishes it, data intact, no snapshot left', async () => {
  const vg = `${VG}k`;
  const { dir: loopDir, devs } = await makeLoops(2, 160);
  const work = mkdtempSync('/tmp/dvm-agent-dvm-kill-');
  const mountRoot = path.join(work, 'mnt');
  mkdirSync(mountRoot);
  const d = openLocked(devs, 'ex');
  try {
    init(vg, d, { extentSize: 8192 });
  } finally {
    closeAll(d);
  }
  const store = path.join(work, 'store');
  const op = await openDirStore(store, { create: true });
  const target = path.join(mountRoot, 'k');
  let agent: { child: ChildProcess; exited: Promise<NodeJS.Signals | number | null>; err: string[] } | null = null;
  const start = (env: Record<string, string> = {}) => {
    const child = spawn(process.execPath, [binPath('dataset-agent'), '--store', store, '--node', 'n1', '--backend', `dvm:${vg}?devs=${devs.join(',')}`, '--mount-root', mountRoot, '--credentialed'], {
      env: { ...(process.env as Record<string, string>), ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const err: string[] = [];
    child.stderr!.on('data', (b) => err.push(String(b)));
    const exited = new Promise<NodeJS.Signals | number | null>((r) => child.on('exit', (code, sig) => r(sig ?? code)));
    agent = { child, exited, err };
    return agent;
  };
  const stop = async () => {
    if (!agent) return;
    if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGTERM');
    await agent.exited;
    agent = null;
  };
  const tail = () => (agent ? agent.err.join('').split('\n').slice(-25).join('\n') : '');
  try {
    start();
    await op.updateDesired((doc) => change.create(doc, { name: 'k', size: 96 * MiB, filesystem: 'ext4', node: 'n1', mount: null, meta: {} }, new Date()));
    await converged(op, 'create', [tail()]);
    const [id] = Object.keys((await op.readDesired()).value.datasets);
    const uuid = (await op.readStatuses())[id]?.formatted?.uuid;
    assert.ok(uuid, 'formatted');
    const data = randomBytes(4 * MiB);
    writeFileSync(path.join(target, 'data'), data);
    await sh('sync', []);
    await stop();
    // Each kill lands at one step of the shrink; the agent started after it finishes the shrink.
    // One kill in each stretch of the shrink; a remove-snapshot repeated after
    // a kill is the contract suite's and agent-apply's (a gone snapshot is success).
    const kills: [string, number][] = [
      ['after control.snapshot', 88], // the snapshot committed, its marker not written: the same snapshot is found again
      ['after resize2fs', 80], // the filesystem shrunk, not yet checked, the snapshot held: checked, removed, then the volume shrinks
      ['after control.resize', 72], // the volume shrunk, the device's size and the marker not yet
    ];
    for (const [label, mb] of kills) {
      await op.updateDesired((doc) => change.shrink(doc, 'k', mb * MiB, new Date()));
      const a = start({ DVM_AGENT_KILL_ON: label });
      const how = await Promise.race([a.exited, sleep(180_000).then(() => 'timeout')]);
      assert.is(how, 'SIGKILL', `killed at '${label}':\n${tail()}`);
      agent = null;
      start();
      await converged(op, `shrink to ${mb} MiB after a kill at '${label}'`, [tail()]);
      assert.equal(extents(devs, vg), [mb / 4], `${label}: one LV (no snapshot left), ${mb} MiB`);
      assert.ok(mountOf(target), `${label}: mounted again`);
      assert.is(sha(readFileSync(path.join(target, 'data'))), sha(data), `${label}: the data survived`);
      const st = (await op.readStatuses())[id]!;
      assert.is(st.formatted?.uuid, uuid, `${label}: the same filesystem (never formatted again)`);
      assert.is(st.markers.shrink_started, undefined, `${label}: the shrink marker cleared`);
      assert.not.ok(query(vgScope(readVg(devs, vg).id)).devices.some((x) => x.suspended), `${label}: nothing suspended`);
      await stop();
    }
  } finally {
    await stop().catch(() => {});
    await op.close();
    spawnSync('umount', [target]);
    for (const dev of query(vgScope(readVg(devs, vg).id)).devices) spawnSync('dmsetup', ['--noudevsync', 'remove', dev.name]);
    for (const dev of devs) spawnSync('losetup', ['-d', dev]);
    rmSync(work, { recursive: true, force: true });
    rmSync(loopDir, { recursive: true, force: true });
  }
});

test.run();
