// Plan and apply together on the memory backend with a simulated host: the
// lifecycle (create, mkfs, mount, move, grow, shrink, detach, destroy) in
// passes, one step per dataset per pass, and the gate's refusals when the
// world changed between plan and apply.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { World } from '../helpers/agent-world.js';
import { apply } from '../../src/agent/apply/index.js';
import { leadershipFor } from '../helpers/mem-store.js';
import type { PlanStep } from '../../src/agent/docs.js';

const MiB = 1024 * 1024;

test('lifecycle: create and mount two datasets, move one, grow, shrink, detach, destroy; one mkfs per volume', async () => {
  const w = new World();
  const a = await w.create('a');
  const b = await w.create('b', { node: 'n2', filesystem: 'xfs' });
  const n = await w.converge();
  assert.ok(n > 0, `converged (${JSON.stringify((await w.planFor('c')).datasets)})`);
  assert.ok(n <= 12, `within 12 passes (${n})`);
  assert.equal(w.violations, []);
  const mkfs = () => Object.values(w.hosts).flatMap((h) => h.mkfsCalls);
  assert.is(mkfs().length, 2);
  assert.is(w.hosts.n1.mountTable[0].path, '/mnt/dvm/a');
  assert.is(w.hosts.n2.mountTable[0].path, '/mnt/dvm/b');
  assert.ok(w.store.statuses[a].formatted && w.store.statuses[b].formatted);

  await w.change(a, { node: 'n2' });
  assert.ok((await w.converge()) > 0, 'move converged');
  assert.is(w.hosts.n1.mountTable.length, 0);
  assert.equal(w.hosts.n2.mountTable.map((m) => m.path).sort(), ['/mnt/dvm/a', '/mnt/dvm/b']);

  await w.change(a, { size: 48 * MiB });
  assert.ok((await w.converge()) > 0, 'grow converged');
  const va = w.state.snapshotOfVolumes().find((v) => v.dataset === a)!;
  assert.is(va.size, 48 * MiB);
  const dev = w.hosts.n2.mountTable.find((m) => m.path === '/mnt/dvm/a')!.source;
  assert.is(w.hosts.n2.readSuperblock(dev)!.size, 48 * MiB, 'the filesystem grew');

  // A smaller size alone is never a shrink.
  await w.change(a, { size: 32 * MiB });
  assert.ok((await w.converge()) > 0);
  assert.is(w.state.snapshotOfVolumes().find((v) => v.dataset === a)!.size, 48 * MiB);
  // An explicit shrink: snapshot, unmount, shrink-fs, resize, refresh, mount again (fsck), remove the snapshot.
  await w.change(a, { size: 32 * MiB, shrink_to: 32 * MiB });
  assert.ok((await w.converge(30)) > 0, `shrink converged: ${JSON.stringify((await w.planFor('c')).datasets)}`);
  assert.is(w.state.snapshotOfVolumes().find((v) => v.dataset === a)!.size, 32 * MiB);
  const dev2 = w.hosts.n2.mountTable.find((m) => m.path === '/mnt/dvm/a')!.source;
  assert.ok(w.hosts.n2.readSuperblock(dev2)!.size <= 32 * MiB);
  assert.is(w.store.statuses[a].markers.shrink_started, undefined, 'the marker is cleared');
  const actions = w.results.filter((r) => r.dataset === a).map((r) => r.action);
  for (const x of ['snapshot', 'unmount', 'shrink-fs', 'resize', 'refresh', 'remove-snapshot', 'mount']) assert.ok(actions.includes(x as never), x);
  // The snapshot outlives the filesystem shrink until the shrunk filesystem passed a full fsck,
  // and goes before the volume shrinks (an origin with a snapshot cannot).
  const at = (a: string, from = 0) => actions.indexOf(a as never, from);
  const shrunkAt = actions.lastIndexOf('shrink-fs' as never);
  assert.ok(shrunkAt > 0 && at('fsck', shrunkAt) > shrunkAt && at('remove-snapshot', shrunkAt) > at('fsck', shrunkAt) && at('resize', shrunkAt) > at('remove-snapshot', shrunkAt), `shrink-fs, fsck, remove-snapshot, resize: ${actions.join(' ')}`);

  await w.change(b, { node: null });
  assert.ok((await w.converge()) > 0, 'detach converged');
  assert.is(w.state.snapshotOfVolumes().find((v) => v.dataset === b)!.attached, null);

  await w.change(b, { deleted: true });
  assert.ok((await w.converge()) > 0, 'destroy converged');
  assert.is(w.state.snapshotOfVolumes().filter((v) => v.dataset === b).length, 0);
  assert.is(mkfs().length, 2, 'still one mkfs per volume');
  assert.equal(w.violations, []);
  // At most one step per dataset per pass on every node.
  assert.ok(w.results.every((r) => r.ok || r.message), 'every failure says why');
});

test('a dataset missing from the desired state is reported orphaned and stays mounted', async () => {
  const w = new World();
  const a = await w.create('a');
  assert.ok((await w.converge()) > 0);
  const vol = w.state.snapshotOfVolumes()[0].id;
  await w.store.updateDesired((d) => {
    delete d.datasets[a];
    return d;
  });
  for (let i = 0; i < 3; i++) await w.pass();
  assert.is(w.hosts.n1.mountTable.length, 1, 'still mounted');
  const p = await w.planFor('n1');
  assert.is(p.datasets[vol].phase, 'orphaned');
  assert.is(p.steps.length + p.waiting_for.length, 0);
});

test('the gate: a stale plan cannot destroy, detach or format what changed since', async () => {
  const w = new World();
  const a = await w.create('a');
  assert.ok((await w.converge()) > 0);
  const v = w.state.snapshotOfVolumes()[0];
  const dev = w.hosts.n1.mountTable[0].source;
  const fx = (node: string) => ({ node, backend: w.backends[node], store: w.store, leadership: node === 'c' ? leadershipFor(w.store, 'c') : null, host: w.hosts[node], mountRoot: '/mnt/dvm', now: w.now });
  const step = (action: PlanStep['action'], runs_on: string, args: Record<string, unknown>): PlanStep => ({ dataset: a, action, runs_on, volume: v.id, args: { volume: v, ...args }, expect: 'x', deadline_ms: 1000 });
  const run = async (node: string, s: PlanStep) => (await apply({ format: 'dvm.dataset-plan/1', node, credentialed: node === 'c', steps: [s], waiting_for: [], datasets: {} }, fx(node))).results[0];

  let r = await run('c', step('destroy', 'credentialed', {}));
  assert.is(r.ok, false);
  assert.match(r.message!, /refused: the dataset is not marked deleted/);
  r = await run('c', step('detach', 'credentialed', { node: 'n1' }));
  assert.match(r.message!, /refused: the dataset is wanted on node 'n1'/);
  await w.change(a, { node: null });
  r = await run('c', step('detach', 'credentialed', { node: 'n1' }));
  assert.match(r.message!, /refused: node 'n1' still has device/);
  r = await run('n1', step('mkfs', 'node:n1', { device: dev, filesystem: 'ext4' }));
  assert.match(r.message!, /refused: the dataset was already formatted/);
  r = await run('n1', step('release', 'node:n1', { device: dev }));
  assert.match(r.message!, /refused: .*mounted/);
  r = await run('n1', step('shrink-fs', 'node:n1', { device: dev, filesystem: 'ext4', from: v.size, to: 8 * MiB }));
  assert.match(r.message!, /refused: no shrink was asked for/);
  r = await run('c', step('resize', 'credentialed', { size: 8 * MiB, shrink: true }));
  assert.match(r.message!, /refused: no shrink was asked for/);
  r = await run('c', step('resize', 'credentialed', { size: 8 * MiB }));
  assert.match(r.message!, /would shrink the volume, and no shrink was asked for/);
  // A lost election: no control call at all.
  w.store.leader = 'n2';
  r = await run('c', step('attach', 'credentialed', { node: 'n2' }));
  assert.is(r.ok, false);
  assert.match(r.message!, /no longer holds the credentialed election/);
  await w.change(a, { deleted: true });
  r = await run('c', step('destroy', 'credentialed', {}));
  assert.match(r.message!, /refused: this agent does not hold the credentialed election/);
  w.store.leader = 'c';
  // Someone else opened the device: not released.
  w.hosts.n1.extraHolds.add(dev);
  await w.hosts.n1.unmount('/mnt/dvm/a');
  r = await run('n1', step('release', 'node:n1', { device: dev }));
  assert.match(r.message!, /refused: .*open by a test process/);
  // A device path that is not this volume's.
  r = await run('n1', step('release', 'node:n1', { device: '/dev/memory/n1/other' }));
  assert.match(r.message!, /refused: '\/dev\/memory\/n1\/other' is not this volume's device/);
  assert.is(w.state.snapshotOfVolumes().length, 1, 'nothing was destroyed');
  assert.equal(w.violations, []);
});

test('an interrupted mkfs is finished (marker, partial data), a finished one is recorded: never a second mkfs over a filesystem', async () => {
  const w = new World();
  w.hosts.n1.failNext['mkfs-partial'] = 1;
  const a = await w.create('a');
  assert.ok((await w.converge()) > 0);
  const calls = w.hosts.n1.mkfsCalls;
  assert.is(calls.length, 2, 'the killed mkfs and the one that finished it');
  assert.is(calls[1].before.blank, false, 'the second ran over our own leftovers');
  assert.ok(w.store.statuses[a].formatted);
  assert.is(w.store.statuses[a].markers.mkfs_started, undefined);
  assert.equal(w.violations, []);

  // mkfs done, then "killed" before the record: the next pass records it.
  const w2 = new World();
  const b = await w2.create('b');
  const orig = w2.store.updateStatus.bind(w2.store);
  let dropped = false;
  w2.store.updateStatus = async (id, change) => {
    const next = change(w2.store.statuses[id] ? structuredClone(w2.store.statuses[id]) : null);
    if (!dropped && next?.formatted) {
      dropped = true;
      throw new Error('killed before the record was written (simulated)');
    }
    return orig(id, () => next);
  };
  assert.ok((await w2.converge()) > 0);
  assert.is(w2.hosts.n1.mkfsCalls.length, 1, 'one mkfs');
  assert.ok(w2.results.some((r) => r.action === 'record' && r.ok));
  assert.ok(w2.store.statuses[b].formatted);
});

test('a device holding foreign data, or unreadable, is never formatted; the phase says why', async () => {
  const w = new World({ badReads: ['dvm-bad'] });
  const f = await w.create('f');
  const bad = await w.create('bad');
  // Someone else's data shows on f's device the moment it first appears (an LVM label).
  const probe = w.hosts.n1.probe.bind(w.hosts.n1);
  w.hosts.n1.probe = async (path: string) => {
    const id = w.state.volumeAt(path);
    const v = w.state.snapshotOfVolumes().find((x) => x.id === id);
    if (v?.dataset === f && !w.foreign.has(v.id)) {
      const label = Buffer.alloc(512);
      label.write('LABELONE', 0, 'latin1');
      w.state.writeDevice(path, 512, label);
      w.foreign.add(v.id);
    }
    return probe(path);
  };
  for (let i = 0; i < 8; i++) await w.pass();
  const p = await w.planFor('c');
  assert.is(p.datasets[f].phase, 'blocked');
  assert.match(p.datasets[f].reason!, /holds data \(an LVM label\)/);
  assert.is(p.datasets[bad].phase, 'degraded');
  assert.match(p.datasets[bad].reason!, /cannot be read/);
  assert.equal(w.violations, []);
  assert.is(w.hosts.n1.mkfsCalls.length, 0);
});

test.run();
