// The loop with the real store, planner and executor, in one process: two
// agents (n1 credentialed, n2) on a directory store and a fake backend and
// hosts. Create, move, grow, destroy converge; a change in the store wakes
// the agents; statuses always say why; a converged pass makes one backend
// call (the listing); one mkfs per volume; abort finishes and returns.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDirStore, type DirStore } from '../../src/agent/store/dir/dir-store.js';
import { runAgent } from '../../src/agent/loop/agent.js';
import { CallCounter, countingBackend, type CallCounts } from '../../src/agent/loop/counting.js';
import type { PassReport } from '../../src/agent/loop/pass.js';
import * as change from '../../src/agent/cli/changes.js';
import { views } from '../../src/agent/cli/views.js';
import { FakeWorld, type FakeHost } from '../helpers/fake-world.js';
import type { Backend } from '../../src/agent/backend/types.js';
import { nodeState } from '../helpers/store-contract.js';
import { fence, unfence } from '../../src/agent/cli/fence.js';
import { NodeAlive } from '../../src/agent/store/types.js';

const MiB = 1 << 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Running {
  done: Promise<void>;
  stop: AbortController;
  host: FakeHost;
  log: string[];
  passes: { report: PassReport | null; counts: CallCounts; at: number }[];
}

async function start(dir: string, world: FakeWorld, node: string, credentialed: boolean, wrap: (b: Backend) => Backend = (b) => b, keepHost?: FakeHost): Promise<Running> {
  const store = await openDirStore(dir, { create: true });
  const counter = new CallCounter();
  const host = keepHost ?? world.host();
  const stop = new AbortController();
  const r: Running = { done: Promise.resolve(), stop, host, log: [], passes: [] };
  r.done = runAgent({
    node,
    credentialed,
    spec: 'fake',
    store,
    backend: countingBackend(wrap(world.backend(node, credentialed)), counter),
    counter,
    host,
    mountRoot: '/srv/dvm',
    appsDir: null,
    once: false,
    log: (l) => r.log.push(l),
    abort: stop.signal,
    onPass: (report, counts) => r.passes.push({ report, counts, at: Date.now() }),
  }).finally(() => store.close());
  return r;
}

async function converged(op: DirStore, what: string, agents: Running[], ms = 20000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const v = Object.values(views((await op.readDesired()).value, await op.readStatuses()));
    if (v.every((x) => x.converged)) return;
    if (Date.now() > until) assert.unreachable(`${what}: not converged: ${v.filter((x) => !x.converged).map((x) => `${x.name}: ${x.waiting}`).join('; ')}\n${agents.map((a) => a.log.slice(-15).join('\n')).join('\n---\n')}`);
    await sleep(50);
  }
}

test('two agents converge a create, a move, a grow and a destroy; one mkfs per volume; converged passes list once', async () => {
  const parent = mkdtempSync(path.join(tmpdir(), 'dvm-loop-'));
  const dir = path.join(parent, 'store');
  const world = new FakeWorld();
  const op = await openDirStore(dir, { create: true });
  const n1 = await start(dir, world, 'n1', true);
  const n2 = await start(dir, world, 'n2', false);
  try {
    await op.updateDesired((d) => change.create(d, { name: 'a', size: 64 * MiB, filesystem: 'ext4', node: 'n1', mount: null, meta: {} }, new Date()));
    await op.updateDesired((d) => change.create(d, { name: 'b', size: 64 * MiB, filesystem: 'ext4', node: 'n1', mount: null, meta: {} }, new Date()));
    await converged(op, 'create', [n1, n2]);
    assert.equal(n1.host.table.map((m) => m.path).sort(), ['/srv/dvm/a', '/srv/dvm/b']);
    assert.is(n2.host.table.length, 0);
    const st = Object.values(await op.readStatuses());
    assert.ok(st.every((s) => s.formatted !== null && s.by === 'n1' && s.observed?.mounted?.startsWith('/srv/dvm/')), JSON.stringify(st));
    assert.ok(n1.log.some((l) => /^a mkfs vol-\d+ ok \(\d+ ms\)/.test(l)), 'one line per step: dataset, step, result, time');

    await op.updateDesired((d) => change.move(d, 'a', 'n2', new Date()));
    await converged(op, 'move', [n1, n2]);
    assert.equal(n1.host.table.map((m) => m.path), ['/srv/dvm/b']);
    assert.equal(n2.host.table.map((m) => m.path), ['/srv/dvm/a']);
    const va = [...world.volumes.values()].find((v) => v.name === 'dvm-a')!;
    assert.is(va.attached, 'n2');

    await op.updateDesired((d) => change.grow(d, 'a', 64 * MiB, true, new Date()));
    await converged(op, 'grow', [n1, n2]);
    assert.is(world.filesystems.get(va.id)!.size, 128 * MiB);

    await op.updateDesired((d) => change.destroy(d, 'b', new Date()));
    await converged(op, 'destroy', [n1, n2]);
    assert.equal([...world.volumes.values()].map((v) => v.name), ['dvm-a']);
    assert.equal(Object.values((await op.readDesired()).value.datasets).map((d) => d.name), ['a'], 'forgotten once destroyed');
    assert.equal([...world.mkfsCount.values()], [1, 1], 'one mkfs per volume');

    // Converged now: a change elsewhere in the store wakes the agents (not a
    // 60 s sleep), and their passes make no backend call beyond the listing.
    await sleep(300);
    const mark = Date.now();
    const other = await openDirStore(dir);
    await other.writeNodeState(nodeState('n3'), { credentialed: false });
    const until = Date.now() + 5000;
    while (!(n1.passes.some((p) => p.at > mark) && n2.passes.some((p) => p.at > mark)) && Date.now() < until) await sleep(20);
    const p1 = n1.passes.filter((p) => p.at > mark);
    const p2 = n2.passes.filter((p) => p.at > mark);
    assert.ok(p1.length > 0 && p2.length > 0, 'woken by the store change');
    assert.ok(p1[0].report!.outcome.converged && p2[0].report!.outcome.converged);
    assert.equal(p1[0].counts.control, { list: 1 }, 'the leader: one listing, nothing else');
    assert.equal(p2[0].counts.control, {}, 'n2 makes no control call');
    assert.ok(Object.keys(p1[0].counts.node).every((k) => k === 'findDevice'), JSON.stringify(p1[0].counts.node));
    await other.close();
  } finally {
    n1.stop.abort();
    n2.stop.abort();
    await Promise.all([n1.done, n2.done]);
    await op.close();
    rmSync(parent, { recursive: true, force: true });
  }
});

test('a change made while a pass runs is seen by the next pass at once, not after the converged sleep', async () => {
  const parent = mkdtempSync(path.join(tmpdir(), 'dvm-loop-'));
  const dir = path.join(parent, 'store');
  const world = new FakeWorld();
  const op = await openDirStore(dir, { create: true });
  // Armed, the node plane's look at a device (made after the pass has read
  // the desired state) writes a new dataset first: the pass cannot see it,
  // and the store's watch fires while no sleep is there to cut short.
  let armed = false;
  let wroteAt = 0;
  const n1 = await start(dir, world, 'n1', true, (b) => ({
    ...b,
    node: {
      findDevice: async (v, o) => {
        const r = await b.node.findDevice(v, o);
        if (armed) {
          armed = false;
          await op.updateDesired((d) => change.create(d, { name: 'late', size: 64 * MiB, filesystem: 'ext4', node: 'n1', mount: null, meta: {} }, new Date()));
          wroteAt = Date.now();
        }
        return r;
      },
      verifyDevice: (v, p) => b.node.verifyDevice(v, p),
      refresh: (v) => b.node.refresh(v),
      release: (v) => b.node.release(v),
    },
  }));
  try {
    await op.updateDesired((d) => change.create(d, { name: 'a', size: 64 * MiB, filesystem: 'ext4', node: 'n1', mount: null, meta: {} }, new Date()));
    await converged(op, 'create', [n1]);
    await sleep(300); // converged: the agent sleeps about 60 s now
    armed = true;
    const other = await openDirStore(dir);
    await other.writeNodeState(nodeState('n3'), { credentialed: false }); // wakes it for a pass with nothing to do
    await other.close();
    const until = Date.now() + 10_000;
    while (wroteAt === 0 && Date.now() < until) await sleep(20);
    assert.ok(wroteAt > 0, 'the armed look ran');
    await converged(op, 'late', [n1], 10_000);
    const after = n1.passes.filter((p) => p.at > wroteAt);
    assert.ok(after.length > 0 && after[0].at - wroteAt < 5000, `the next pass came ${after[0]?.at - wroteAt} ms after the change, not a sleep later`);
    assert.ok(n1.host.table.some((m) => m.path === '/srv/dvm/late'), 'and converged it');
  } finally {
    n1.stop.abort();
    await n1.done;
    await op.close();
    rmSync(parent, { recursive: true, force: true });
  }
});

test('a dataset on a node without a running agent says so; the leader writes that status', async () => {
  const parent = mkdtempSync(path.join(tmpdir(), 'dvm-loop-'));
  const dir = path.join(parent, 'store');
  const world = new FakeWorld();
  const op = await openDirStore(dir, { create: true });
  const n1 = await start(dir, world, 'n1', true);
  try {
    await op.updateDesired((d) => change.create(d, { name: 'a', size: 64 * MiB, filesystem: 'ext4', node: 'n9', mount: null, meta: {} }, new Date()));
    const until = Date.now() + 10000;
    let reason = '';
    while (Date.now() < until) {
      const s = Object.values(await op.readStatuses())[0];
      if (s && /n9/.test(s.reason ?? '')) {
        reason = s.reason!;
        assert.is(s.by, 'n1');
        assert.is.not(s.phase, 'converged');
        break;
      }
      await sleep(50);
    }
    assert.match(reason, /node 'n9'/);
  } finally {
    n1.stop.abort();
    await n1.done;
    await op.close();
    rmSync(parent, { recursive: true, force: true });
  }
});

test('an agent killed with its dataset mounted: the move away waits until the backend confirms its node is gone, then finishes; its stale record does not hold back a destroy', async () => {
  const parent = mkdtempSync(path.join(tmpdir(), 'dvm-loop-'));
  const dir = path.join(parent, 'store');
  const world = new FakeWorld();
  const op = await openDirStore(dir, { create: true });
  const n1 = await start(dir, world, 'n1', true);
  let n2: Running | null = await start(dir, world, 'n2', false);
  try {
    await op.updateDesired((d) => change.create(d, { name: 'a', size: 64 * MiB, filesystem: 'ext4', node: 'n2', mount: null, meta: {} }, new Date()));
    await converged(op, 'create a on n2', [n1, n2]);
    n2.stop.abort();
    await n2.done;
    n2 = null; // its lock is free: dead to the store; its host keeps the mount, as a machine would
    await op.updateDesired((d) => change.move(d, 'a', 'n1', new Date()));
    const reasonOf = async () => Object.values(await op.readStatuses())[0]?.reason ?? '';
    const t0 = Date.now();
    while (!/whose agent is not running; it is detached only once/.test(await reasonOf())) {
      if (Date.now() - t0 > 10000) assert.unreachable(`no waiting reason: ${await reasonOf()}`);
      await sleep(50);
    }
    await sleep(500);
    const vol = [...world.volumes.values()][0];
    assert.is(vol.attached, 'n2', 'not detached while the backend cannot tell whether n2 is gone');
    world.live = ['n2', 'n1'];
    await sleep(1000);
    assert.is(vol.attached, 'n2', 'not detached while the backend says n2 is alive');
    world.live = ['n1'];
    await converged(op, 'move a to n1 once n2 is confirmed gone', [n1], 20000);
    assert.is(vol.attached, 'n1');
    assert.ok(n1.log.some((l) => /^a detach vol-\S+ ok/.test(l)), n1.log.join('\n'));
    // Its destroy is not held back by n2's last state, a stale record of a node the backend confirms gone.
    assert.ok((await op.readNodes()).n2?.state?.devices[vol.id], 'n2 still shows the device in its last state');
    await op.updateDesired((d) => change.destroy(d, 'a', new Date()));
    const t2 = Date.now();
    while (world.volumes.size > 0) {
      if (Date.now() - t2 > 20000) assert.unreachable(`not destroyed: ${await reasonOf()} ${n1.log.slice(-5).join(' | ')}`);
      await sleep(50);
    }
  } finally {
    n1.stop.abort();
    if (n2) n2.stop.abort();
    await n1.done;
    await n2?.done;
    await op.close();
    rmSync(parent, { recursive: true, force: true });
  }
});

test('dataset node fence: refused while the node runs; once its agent is dead, the move away finishes; its agent back does nothing until unfenced', async () => {
  const parent = mkdtempSync(path.join(tmpdir(), 'dvm-loop-'));
  const dir = path.join(parent, 'store');
  const world = new FakeWorld(); // a backend that cannot tell whether a node is gone
  const op = await openDirStore(dir, { create: true });
  const n1 = await start(dir, world, 'n1', true);
  let n2: Running | null = await start(dir, world, 'n2', false);
  try {
    await op.updateDesired((d) => change.create(d, { name: 'a', size: 64 * MiB, filesystem: 'ext4', node: 'n2', mount: null, meta: {} }, new Date()));
    await converged(op, 'create a on n2', [n1, n2]);
    try {
      await fence(op, 'n2', 'maintenance', new Date());
      assert.unreachable('a live node was fenced');
    } catch (e) {
      assert.ok(e instanceof NodeAlive, String(e));
    }
    assert.equal(await op.readFences(), {});
    const host2 = n2.host;
    n2.stop.abort();
    await n2.done;
    n2 = null; // dead to the store; its host keeps the mount
    await op.updateDesired((d) => change.move(d, 'a', 'n1', new Date()));
    const reasonOf = async () => Object.values(await op.readStatuses())[0]?.reason ?? '';
    const t0 = Date.now();
    while (!/whose agent is not running; it is detached only once/.test(await reasonOf())) {
      if (Date.now() - t0 > 10000) assert.unreachable(`no waiting reason: ${await reasonOf()}`);
      await sleep(50);
    }
    const vol = [...world.volumes.values()][0];
    assert.is(vol.attached, 'n2');
    const said = await fence(op, 'n2', 'powered off', new Date(), 'root@ops');
    assert.match(said, /node 'n2' fenced: .*detached without its unmount \(a\)/);
    await converged(op, 'move a to n1 once n2 is fenced', [n1], 20000);
    assert.is(vol.attached, 'n1');
    assert.ok(n1.log.some((l) => /^a detach vol-\S+ ok/.test(l)), n1.log.join('\n'));
    assert.is(world.mkfsCount.get(vol.id), 1, 'formatted once');

    // n2's agent comes back while fenced: it says so and does nothing at all.
    const before = JSON.stringify(host2.table);
    n2 = await start(dir, world, 'n2', false, (b) => b, host2);
    const t1 = Date.now();
    while (!n2.log.some((l) => /node 'n2' is fenced since .* by root@ops \(powered off\): this agent mounts and uses nothing/.test(l))) {
      if (Date.now() - t1 > 10000) assert.unreachable(`n2 did not say it is fenced: ${n2.log.join('\n')}`);
      await sleep(50);
    }
    await sleep(500);
    assert.ok(n2.passes.length > 0 && n2.passes.every((p) => p.report === null), 'no pass ran');
    assert.ok(n2.passes.every((p) => Object.keys(p.counts.control).length + Object.keys(p.counts.node).length === 0), `no backend call: ${JSON.stringify(n2.passes.map((p) => p.counts))}`);
    assert.is(JSON.stringify(host2.table), before, 'nothing mounted or unmounted on n2');
    assert.not.ok((await op.readNodes()).n2.alive, 'a fenced agent does not count as a live node');

    assert.match(await unfence(op, 'n2'), /node 'n2' unfenced/);
    const t2 = Date.now();
    while (!n2.log.some((l) => /node 'n2' is no longer fenced/.test(l))) {
      if (Date.now() - t2 > 10000) assert.unreachable(`n2 did not resume: ${n2.log.join('\n')}`);
      await sleep(50);
    }
    await converged(op, 'still converged on n1 after the unfence', [n1, n2], 20000);
    assert.is(vol.attached, 'n1');
    // Discovery looks only at volumes attached to the node, so a mount the
    // fence did not really cut (this host was never powered off) is not
    // seen there: why fencing asks for the node off or cut from the storage.
    assert.is(JSON.stringify(host2.table), before, 'nothing on n2 touched on a guess');
  } finally {
    n1.stop.abort();
    if (n2) n2.stop.abort();
    await n1.done;
    await n2?.done;
    await op.close();
    rmSync(parent, { recursive: true, force: true });
  }
});

test.run();
