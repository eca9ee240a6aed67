// The store contract suite: what every Store (directory, etcd) must do, run
// against a factory. Each case gets a fresh, empty store; `open()` gives
// another client of the same store (a second agent, an operator's command),
// so the concurrency cases use separate instances as real processes would.
//
//   import { storeContract } from '../helpers/store-contract.js';
//   storeContract('etcd', async () => ({ open: () => openEtcdStore(...), dispose: async () => {...} }));
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import type { DatasetStatus, DesiredDataset, NodeFence, NodeStateDoc, VolumesDoc } from '../../src/agent/docs.js';
import { NodeAlive, NodeFenced, StoreConflict, type Store } from '../../src/agent/store/types.js';
import { ToolError } from '../../src/lib/errors.js';
import { rejects } from './rejects.js';

export interface StoreHarness {
  /** Another client of the same store. The suite closes what it opens. */
  open(): Promise<Store>;
  /** Removes the store (called after each case, pass or fail). */
  dispose(): Promise<void>;
}

const now = () => new Date().toISOString();

export function desiredEntry(name: string, over: Partial<DesiredDataset> = {}): DesiredDataset {
  return { name, size: 64 * 1024 * 1024, filesystem: 'ext4', node: null, mount: null, deleted: false, changed: now(), ...over };
}

export function statusDoc(id: string, over: Partial<DatasetStatus> = {}): DatasetStatus {
  return { format: 'dvm.dataset-status/1', id, phase: 'pending', reason: 'volume not created yet', error: null, since: now(), by: 'n1', observed: null, markers: {}, formatted: null, ...over };
}

export function nodeState(node: string, devices: NodeStateDoc['devices'] = {}): NodeStateDoc {
  return { format: 'dvm.node-state/1', node, observed_at: now(), mount_root: '/srv/datasets', devices, stray_mounts: [], apps: [] };
}

export function listingDoc(volumes: VolumesDoc['volumes'] = []): VolumesDoc {
  return {
    format: 'dvm.volumes/1',
    backend: 'memory',
    listed_at: now(),
    listed_by: 'n1',
    volumes,
    limits: { allocation_unit: 1048576, min_size: 1048576, max_size: 2 ** 40, per_node: null, max_volumes: null, max_bytes: null, can_shrink: true, can_snapshot: false },
  };
}

export function fenceDoc(node: string, reason: string | null = 'powered off'): NodeFence {
  return { format: 'dvm.node-fence/1', node, reason, at: now(), by: 'root@test' };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.unreachable(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

/** Registers and runs the suite `store contract: <name>`. */
export function storeContract(name: string, makeHarness: () => Promise<StoreHarness>): void {
  const t = suite<{ h?: StoreHarness; opened: Store[] }>(`store contract: ${name}`, { opened: [] });
  const open = async (ctx: { h?: StoreHarness; opened: Store[] }) => {
    const s = await ctx.h!.open();
    ctx.opened.push(s);
    return s;
  };
  t.before.each(async (ctx) => {
    ctx.h = await makeHarness();
    ctx.opened = [];
  });
  t.after.each(async (ctx) => {
    for (const s of ctx.opened) await s.close().catch(() => {});
    await ctx.h?.dispose();
  });

  t('a new store has an empty desired state and one cluster id for every client', async (ctx) => {
    const a = await open(ctx);
    const b = await open(ctx);
    const da = await a.readDesired();
    const db = await b.readDesired();
    assert.is(da.value.format, 'dvm.datasets/1');
    assert.equal(da.value.datasets, {});
    assert.match(da.value.cluster, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.is(db.value.cluster, da.value.cluster);
    assert.is(typeof da.revision, 'string');
    assert.equal(await a.readStatuses(), {});
    assert.equal(await a.readNodes(), {});
    assert.is(await a.readListing(), null);
  });

  t('updateDesired is seen by another client; the revision changes with the value only', async (ctx) => {
    const a = await open(ctx);
    const b = await open(ctx);
    const r0 = await b.readDesired();
    const id = randomUUID();
    const w = await a.updateDesired((d) => ({ ...d, datasets: { ...d.datasets, [id]: desiredEntry('alpha') } }));
    assert.is(w.value.datasets[id].name, 'alpha');
    const r1 = await b.readDesired();
    assert.equal(r1.value.datasets[id], w.value.datasets[id]);
    assert.is.not(r1.revision, r0.revision);
    assert.is((await b.readDesired()).revision, r1.revision, 'unchanged value, same revision');
    await a.updateDesired((d) => {
      delete d.datasets[id];
      return d;
    });
    assert.equal((await b.readDesired()).value.datasets, {});
  });

  t('a refused change (StoreConflict) and an invalid one change nothing', async (ctx) => {
    const a = await open(ctx);
    const id = randomUUID();
    await a.updateDesired((d) => ({ ...d, datasets: { [id]: desiredEntry('alpha') } }));
    const before = await a.readDesired();
    await rejects(
      a.updateDesired(() => {
        throw new StoreConflict("dataset 'alpha': exists");
      }),
      (e: unknown) => e instanceof StoreConflict,
    );
    const bad = [
      (d: typeof before.value) => ({ ...d, datasets: { ...d.datasets, [randomUUID()]: desiredEntry('../etc') } }),
      (d: typeof before.value) => ({ ...d, datasets: { ...d.datasets, [randomUUID()]: desiredEntry('beta', { mount: 'relative/path' }) } }),
      (d: typeof before.value) => ({ ...d, datasets: { ...d.datasets, [randomUUID()]: desiredEntry('alpha') } }), // a second 'alpha'
      (d: typeof before.value) => ({ ...d, datasets: { ...d.datasets, 'not-an-id': desiredEntry('gamma') } }),
      (d: typeof before.value) => ({ ...d, cluster: randomUUID() }),
      (d: typeof before.value) => ({ ...d, datasets: { ...d.datasets, [randomUUID()]: desiredEntry('delta', { volume: '../../dev/sda' }) } }),
    ];
    for (const change of bad) await rejects(a.updateDesired(change), (e: unknown) => e instanceof ToolError);
    const after = await a.readDesired();
    assert.equal(after.value, before.value);
    assert.is(after.revision, before.revision);
  });

  t('concurrent operator changes from two clients never lose each other', async (ctx) => {
    const a = await open(ctx);
    const b = await open(ctx);
    const add = (s: Store, prefix: string, i: number) => s.updateDesired((d) => ({ ...d, datasets: { ...d.datasets, [randomUUID()]: desiredEntry(`${prefix}${i}`) } }));
    await Promise.all(Array.from({ length: 15 }, (_, i) => [add(a, 'a', i), add(b, 'b', i)]).flat());
    const names = Object.values((await a.readDesired()).value.datasets)
      .map((d) => d.name)
      .sort();
    assert.is(names.length, 30);
    assert.equal(names, [...Array.from({ length: 15 }, (_, i) => `a${i}`), ...Array.from({ length: 15 }, (_, i) => `b${i}`)].sort());
  });

  t('statuses: create, change, delete; another client sees each', async (ctx) => {
    const a = await open(ctx);
    const b = await open(ctx);
    const id = randomUUID();
    const seen: (DatasetStatus | null)[] = [];
    await a.updateStatus(id, (s) => (seen.push(s), statusDoc(id)));
    assert.is(seen[0], null, 'no status yet');
    assert.is((await b.readStatuses())[id].phase, 'pending');
    await b.updateStatus(id, (s) => ({ ...s!, phase: 'converged', reason: null, formatted: { volume: 'vol-1', filesystem: 'ext4', uuid: randomUUID(), at: now(), by: 'n1' } }));
    const st = (await a.readStatuses())[id];
    assert.is(st.phase, 'converged');
    assert.is(st.formatted?.volume, 'vol-1');
    await a.updateStatus(id, () => null);
    assert.equal(await b.readStatuses(), {});
  });

  t('status read-modify-writes from two clients never lose an update', async (ctx) => {
    const a = await open(ctx);
    const b = await open(ctx);
    const id = randomUUID();
    await a.updateStatus(id, () => statusDoc(id, { reason: '0' }));
    const bump = (s: Store) => s.updateStatus(id, (cur) => ({ ...cur!, reason: String(Number(cur!.reason) + 1) }));
    await Promise.all(Array.from({ length: 10 }, () => [bump(a), bump(b)]).flat());
    assert.is((await a.readStatuses())[id].reason, '20');
  });

  t('an invalid status is refused and nothing is written; secrets in errors are redacted', async (ctx) => {
    const a = await open(ctx);
    const id = randomUUID();
    await rejects(
      a.updateStatus(id, () => ({ ...statusDoc(id), phase: 'bogus' as DatasetStatus['phase'] })),
      (e: unknown) => e instanceof ToolError,
    );
    assert.equal(await a.readStatuses(), {});
    await rejects(a.updateStatus('../x', () => statusDoc(id)));
    await a.updateStatus(id, () => statusDoc(id, { phase: 'error', error: 'POST https://u:hunter2@cloud/v3 failed: X-Auth-Token: gAAAAsecret password=hunter2' }));
    const err = (await a.readStatuses())[id].error!;
    assert.not.ok(err.includes('hunter2'), err);
    assert.not.ok(err.includes('gAAAAsecret'), err);
  });

  t('node states: alive while the writing client runs, not after it closes; replaced, not merged', async (ctx) => {
    const agent = await open(ctx);
    const reader = await open(ctx);
    await agent.writeNodeState(nodeState('n1', { 'vol-1': dev('/dev/loop7') }), { credentialed: false });
    let nodes = await reader.readNodes();
    assert.equal(Object.keys(nodes), ['n1']);
    assert.ok(nodes.n1.alive, 'alive while its agent runs');
    assert.is(nodes.n1.credentialed, false);
    assert.is(nodes.n1.leader, false);
    assert.equal(Object.keys(nodes.n1.state.devices), ['vol-1']);
    await agent.writeNodeState(nodeState('n1', {}), { credentialed: false });
    nodes = await reader.readNodes();
    assert.equal(nodes.n1.state.devices, {}, 'replaced');
    await agent.close();
    await eventually('n1 not alive after its agent closed', async () => !(await reader.readNodes()).n1.alive);
    assert.ok((await reader.readNodes()).n1.state, 'the last state stays readable');
  });

  t('two agents cannot run as the same node', async (ctx) => {
    const a = await open(ctx);
    const b = await open(ctx);
    await a.writeNodeState(nodeState('n1'), { credentialed: false });
    await rejects(b.writeNodeState(nodeState('n1'), { credentialed: false }), (e: unknown) => e instanceof ToolError);
    await b.writeNodeState(nodeState('n2'), { credentialed: false });
    assert.equal(Object.keys(await a.readNodes()).sort(), ['n1', 'n2']);
  });

  t('fences: refused while the node runs; seen by every client and by watch; a fenced node cannot write its state until unfenced', async (ctx) => {
    const agent = await open(ctx);
    const op = await open(ctx);
    const other = await open(ctx);
    await agent.writeNodeState(nodeState('n3', { 'vol-1': dev('/dev/loop7') }), { credentialed: false });
    const f = fenceDoc('n3');
    await rejects(op.fenceNode(f), (e: unknown) => e instanceof NodeAlive);
    assert.equal(await op.readFences(), {}, 'nothing written for a live node');
    await agent.close();
    await eventually('n3 not alive after its agent closed', async () => !(await op.readNodes()).n3.alive);
    const seen = new Set<string>();
    const stop = other.watch((what) => seen.add(what));
    await sleep(50);
    await op.fenceNode(f);
    assert.equal((await other.readFences()).n3, f, 'another client reads the fence');
    await eventually('a fence is a nodes change to watchers', () => seen.has('nodes'));
    stop();
    assert.equal(Object.keys((await other.readNodes()).n3.state.devices), ['vol-1'], 'its last state stays readable');
    // Its agent back: refused, and it does not look alive (so it can be fenced again).
    const back = await open(ctx);
    await rejects(back.writeNodeState(nodeState('n3'), { credentialed: false }), (e: unknown) => e instanceof NodeFenced && (e as NodeFenced).fence.reason === 'powered off');
    assert.not.ok((await op.readNodes()).n3.alive, 'a fenced node whose agent tried to write is not alive');
    await op.fenceNode({ ...f, reason: 'again' });
    assert.is((await other.readFences()).n3.reason, 'again', 'fencing again replaces the record');
    await rejects(op.fenceNode({ ...f, node: 'n4', reason: 'two\nlines' }), (e: unknown) => e instanceof ToolError);
    await rejects(op.fenceNode({ ...f, node: '../n4' }), (e: unknown) => e instanceof ToolError);
    assert.equal(Object.keys(await op.readFences()), ['n3'], 'invalid fences are not written');
    assert.ok(await op.unfenceNode('n3'));
    assert.not.ok(await op.unfenceNode('n3'), 'a second unfence finds none');
    assert.equal(await other.readFences(), {});
    await back.writeNodeState(nodeState('n3'), { credentialed: false });
    assert.ok((await op.readNodes()).n3.alive, 'unfenced, its agent writes and is alive again');
  });

  t('an invalid node state or listing is refused', async (ctx) => {
    const a = await open(ctx);
    await rejects(a.writeNodeState({ ...nodeState('n1'), mount_root: 'relative' }, { credentialed: false }), (e: unknown) => e instanceof ToolError);
    await rejects(a.writeNodeState(nodeState('../n1'), { credentialed: false }), (e: unknown) => e instanceof ToolError);
    await rejects(a.writeListing({ ...listingDoc(), volumes: [{ id: '../../dev/sda' } as never] }), (e: unknown) => e instanceof ToolError);
    assert.equal(await a.readNodes(), {});
    assert.is(await a.readListing(), null);
  });

  t('the listing round-trips and the last one wins', async (ctx) => {
    const a = await open(ctx);
    const b = await open(ctx);
    const vol = { id: 'vol-1', dataset: randomUUID(), name: 'dvm-alpha', size: 64 * 1048576, status: 'available' as const, attached: null, metadata: { 'dvm.dataset': 'x' } };
    await a.writeListing(listingDoc([vol]));
    assert.equal((await b.readListing())!.volumes, [vol]);
    await a.writeListing(listingDoc([]));
    assert.equal((await b.readListing())!.volumes, []);
  });

  t('the election: one leader, a standby waits, takes over when the leader resigns; fenced calls only while leading', async (ctx) => {
    const a = await open(ctx);
    const b = await open(ctx);
    const la = await a.campaign('n1');
    await la.elected;
    assert.ok(la.isLeader());
    const lb = await b.campaign('n2');
    let bElected = false;
    void lb.elected.then(() => (bElected = true));
    await sleep(400);
    assert.not.ok(bElected, 'a standby waits while another leads');
    assert.not.ok(lb.isLeader());
    await rejects(lb.fenced(async () => 'called'), (e: unknown) => e instanceof ToolError);
    assert.is(await la.fenced(async () => 'called'), 'called');
    await a.writeNodeState(nodeState('n1'), { credentialed: true });
    await b.writeNodeState(nodeState('n2'), { credentialed: true });
    let nodes = await b.readNodes();
    assert.ok(nodes.n1.leader, 'n1 leads');
    assert.not.ok(nodes.n2.leader);
    await la.resign();
    assert.not.ok(la.isLeader());
    let called = false;
    await rejects(
      la.fenced(async () => (called = true)),
      (e: unknown) => e instanceof ToolError,
    );
    assert.not.ok(called, 'a resigned leader makes no call');
    await eventually('the standby takes over', () => bElected);
    assert.ok(lb.isLeader());
    await eventually('n2 is seen as the leader', async () => {
      nodes = await a.readNodes();
      return nodes.n2.leader && !nodes.n1.leader;
    });
  });

  t('the election: a leader whose client closes hands over to the standby', async (ctx) => {
    const a = await open(ctx);
    const b = await open(ctx);
    const la = await a.campaign('n1');
    await la.elected;
    const lb = await b.campaign('n2');
    await a.close();
    await Promise.race([lb.elected, sleep(5000).then(() => assert.unreachable('standby not elected'))]);
    assert.ok(lb.isLeader());
  });

  t('watch reports changes made by another client, until unsubscribed', async (ctx) => {
    const a = await open(ctx);
    const b = await open(ctx);
    const seen = new Set<string>();
    const stop = a.watch((what) => seen.add(what));
    await sleep(50);
    const id = randomUUID();
    await b.updateDesired((d) => ({ ...d, datasets: { [id]: desiredEntry('alpha') } }));
    await eventually('desired change seen', () => seen.has('desired'));
    await b.updateStatus(id, () => statusDoc(id));
    await eventually('status change seen', () => seen.has('status'));
    await b.writeNodeState(nodeState('n2'), { credentialed: false });
    await eventually('node change seen', () => seen.has('nodes'));
    await b.writeListing(listingDoc());
    await eventually('listing change seen', () => seen.has('listing'));
    stop();
    await sleep(50);
    seen.clear();
    await b.updateDesired((d) => ({ ...d, datasets: {} }));
    await sleep(300);
    assert.is(seen.size, 0, 'nothing after unsubscribing');
  });

  t.run();
}

function dev(path: string): NodeStateDoc['devices'][string] {
  return { path, identity: '/srv/lb/vol-1.img', size: 64 * 1048576, blank: true, signature: null, mount: null, held: false, fsck: null, fs_size: null, error: null };
}
