// The memory backend: the contract suite (plain, and eventually consistent
// with latency and jitter), its knobs from code and from the spec string, the
// registry's spec errors, and the idempotent adapter over injected failures.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { backendContract } from '../helpers/backend-contract.js';
import { MemoryState, memoryBackend, resetSharedMemoryStates } from '../../src/agent/backends/memory/index.js';
import { openBackend, parseBackendSpec } from '../../src/agent/backend/registry.js';
import { BackendError, META_CLUSTER, META_DATASET, type Backend } from '../../src/agent/backend/types.js';
import { idempotent } from '../../src/agent/backend/idempotent.js';
import type { MemoryKnobs } from '../../src/agent/backends/memory/knobs.js';
import { ToolError } from '../../src/lib/errors.js';
import type { Volume } from '../../src/agent/docs.js';

const MiB = 1 << 20;
const CLUSTER = '00000000-0000-4000-8000-0000000000aa';

function memoryWorld(knobs: Partial<MemoryKnobs> = {}) {
  return async () => {
    const state = new MemoryState(knobs);
    return {
      backend: async (node: string, o: { cluster: string; credentialed: boolean }) => memoryBackend(state, { node, ...o }),
      hold: async (path: string) => {
        state.hold(path);
        return async () => state.unhold(path);
      },
      reboot: async (node: string) => state.reboot(node),
      cleanup: async () => {},
    };
  };
}

backendContract({ name: 'memory', setup: memoryWorld(), unknownId: 'mem-999999', size: 8 * MiB, realDevices: false, detectsConnected: true });
backendContract({
  name: 'memory, eventually consistent, slow, late and moved devices',
  setup: memoryWorld({ lagListings: 2, lagMs: 5, latencyMs: 1, jitterMs: 3, late: ['*'], lateCalls: 2, moved: ['*'], seed: 7 }),
  unknownId: 'mem-999999',
  size: 8 * MiB,
  realDevices: false,
  retries: 10,
  retryDelayMs: 5,
  detectsConnected: true,
});

const req = (size = 8 * MiB, name = 'dvm-a') => ({ cluster: CLUSTER, dataset: randomUUID(), name, size, metadata: {} });
const kindOf = async (p: Promise<unknown>): Promise<string | null> => {
  try {
    await p;
    return null;
  } catch (e) {
    if (e instanceof BackendError) return e.kind;
    throw e;
  }
};
const two = (state: MemoryState): [Backend, Backend] => [
  memoryBackend(state, { node: 'n1', credentialed: true, cluster: CLUSTER }),
  memoryBackend(state, { node: 'n2', credentialed: false, cluster: CLUSTER }),
];

test('agents with different node names share one state: n1 attaches for n2, n2 sees the device, n1 does not', async () => {
  const state = new MemoryState();
  const [n1, n2] = two(state);
  assert.is(n2.control, null);
  const v = await n1.control!.create(req());
  const a = await n1.control!.attach(v.id, 'n2');
  assert.is(await n1.node.findDevice(a), null);
  const d = await n2.node.findDevice(a);
  assert.equal(d, { path: `/dev/memory/n2/${v.id}`, identity: `memory:${v.id}`, size: 8 * MiB });
  assert.equal(state.calls.map((c) => `${c.node}:${c.op}`), ['n1:create', 'n1:attach', 'n1:find', 'n2:find']);
});

test('eventual consistency: a new volume shows only after lag_listings listings; a destroyed one lingers as deleting', async () => {
  const state = new MemoryState({ lagListings: 2 });
  const [n1] = two(state);
  const c = n1.control!;
  const v = await c.create(req());
  assert.is((await c.list()).length, 0);
  assert.is((await c.list()).length, 0);
  assert.equal((await c.list()).map((x) => x.id), [v.id]);
  await c.attach(v.id, 'n1'); // a hidden volume can still be used by id
  await c.detach(v.id);
  await c.destroy(v.id);
  assert.equal((await c.list()).map((x) => x.status), ['deleting']);
  assert.equal((await c.list()).map((x) => x.status), ['deleting']);
  assert.is((await c.list()).length, 0);
  assert.is(await kindOf(c.attach(v.id, 'n1')), 'unknown-volume');
});

test('eventual consistency by time: lag_ms hides a new volume until the clock passes it', async () => {
  let now = 1000;
  const state = new MemoryState({ lagMs: 500 }, { now: () => now });
  const c = memoryBackend(state, { node: 'n1', credentialed: true }).control!;
  const v = await c.create(req());
  assert.is((await c.list()).length, 0);
  now += 499;
  assert.is((await c.list()).length, 0);
  now += 1;
  assert.equal((await c.list()).map((x) => x.id), [v.id]);
});

test('injected failures: once, N times, before or after the call took effect, per volume, and seeded probabilities', async () => {
  const state = new MemoryState({ failures: [{ op: 'create', kind: 'unavailable', times: 1, after: true }] });
  const [n1] = two(state);
  const c = n1.control!;
  const err = await kindOf(c.create(req()));
  assert.is(err, 'unavailable');
  assert.is(state.snapshotOfVolumes().length, 1, 'after: the volume was made although the call failed (the duplicate trap)');
  const v = await c.create(req(8 * MiB, 'dvm-b'));
  state.injectFailure({ op: 'attach', kind: 'unavailable', times: 2, volume: 'dvm-b' });
  assert.is(await kindOf(c.attach(v.id, 'n1')), 'unavailable');
  assert.is(await kindOf(c.attach(v.id, 'n1')), 'unavailable');
  assert.is(state.snapshotOfVolumes().find((x) => x.id === v.id)!.attached, null, 'before: nothing happened');
  assert.is(await kindOf(c.attach(v.id, 'n1')), null);
  assert.equal(state.calls.filter((x) => x.op === 'attach').map((x) => x.failed), ['unavailable', 'unavailable', null]);

  const pattern = async (seed: number) => {
    const s = new MemoryState({ seed, failures: [{ op: 'list', kind: 'unavailable', probability: 0.5 }] });
    const cc = memoryBackend(s, { node: 'n1', credentialed: true }).control!;
    const out: string[] = [];
    for (let i = 0; i < 40; i++) out.push((await kindOf(cc.list())) ?? 'ok');
    return out.join(',');
  };
  const a = await pattern(42);
  assert.is(a, await pattern(42), 'the same seed fails the same calls');
  assert.ok(a.includes('ok') && a.includes('unavailable'), a);
  assert.is.not(a, await pattern(43));
});

test('a device whose reads fail: EIO on read; other devices read back what was written', async () => {
  const state = new MemoryState({ badReads: ['dvm-bad'] });
  const [n1] = two(state);
  const c = n1.control!;
  const good = await c.attach((await c.create(req(8 * MiB, 'dvm-good'))).id, 'n1');
  const bad = await c.attach((await c.create(req(8 * MiB, 'dvm-bad'))).id, 'n1');
  const gd = (await n1.node.findDevice(good))!;
  const bd = (await n1.node.findDevice(bad))!;
  assert.throws(() => state.readDevice(bd.path, 0, MiB), (e: NodeJS.ErrnoException) => e.code === 'EIO');
  assert.ok(state.readDevice(gd.path, 0, MiB).every((b) => b === 0), 'a new device is zeros');
  state.writeDevice(gd.path, 4090, Buffer.from('EXT4 here'));
  assert.is(state.readDevice(gd.path, 4090, 9).toString(), 'EXT4 here', 'across a block boundary');
  assert.is(state.volumeAt(gd.path), good.id);
  assert.throws(() => state.readDevice(gd.path, 8 * MiB - 1, 2), (e: NodeJS.ErrnoException) => e.code === 'EINVAL');
  // Content follows the volume across a move.
  await n1.node.release(good);
  await c.detach(good.id);
  const n2 = memoryBackend(state, { node: 'n2', credentialed: false });
  const moved = await c.attach(good.id, 'n2');
  const d2 = (await n2.node.findDevice(moved))!;
  assert.is(state.readDevice(d2.path, 4090, 9).toString(), 'EXT4 here');
});

test('a late device appears after late_calls lookups; a moved one gets a new path at each attach and reboot', async () => {
  const state = new MemoryState({ late: ['dvm-late'], lateCalls: 3, moved: ['dvm-moved'] });
  const [n1] = two(state);
  const c = n1.control!;
  const late = await c.attach((await c.create(req(8 * MiB, 'dvm-late'))).id, 'n1');
  for (let i = 0; i < 3; i++) assert.is(await n1.node.findDevice(late), null, `lookup ${i}`);
  assert.ok(await n1.node.findDevice(late));
  const mv = await c.attach((await c.create(req(8 * MiB, 'dvm-moved'))).id, 'n1');
  const p1 = (await n1.node.findDevice(mv))!.path;
  assert.is((await n1.node.findDevice(mv))!.path, p1, 'stable while attached');
  state.reboot('n1');
  const p2 = (await n1.node.findDevice(mv))!.path;
  assert.is.not(p2, p1);
  assert.type(await n1.node.verifyDevice(mv, p1), 'string', 'the old path is refused');
  await n1.node.release(mv);
  await c.detach(mv.id);
  await c.attach(mv.id, 'n1');
  const p3 = (await n1.node.findDevice(mv))!.path;
  assert.ok(p3 !== p1 && p3 !== p2, `${p1} ${p2} ${p3}`);
  assert.match(p3, /^\/dev\/memory\/n1\/vd[b-z]/);
});

test('limits: per node, volume and byte quotas, no shrink, no snapshot', async () => {
  const state = new MemoryState({ limits: { per_node: 1, max_volumes: 3, max_bytes: 20 * MiB, can_shrink: false, can_snapshot: false } as MemoryKnobs['limits'] });
  const c = memoryBackend(state, { node: 'n1', credentialed: true }).control!;
  const a = await c.create(req());
  const b = await c.create(req());
  assert.is(await kindOf(c.create(req(8 * MiB))), 'limit-exceeded', 'bytes');
  await c.create(req(MiB));
  assert.is(await kindOf(c.create(req(MiB))), 'limit-exceeded', 'count');
  await c.attach(a.id, 'n1');
  const e = await c.attach(b.id, 'n1').catch((x: BackendError) => x);
  assert.ok(e instanceof BackendError && e.kind === 'limit-exceeded' && e.node === 'n1');
  assert.is(await kindOf(c.resize(a.id, 4 * MiB)), 'unsupported');
  assert.is(await kindOf(c.resize(a.id, 12 * MiB)), 'limit-exceeded', 'bytes on grow');
  assert.is(await kindOf(c.snapshot!(a.id, 's')), 'unsupported');
});

test('snapshots: restore brings back size and content, only when detached, and consumes the snapshot', async () => {
  const state = new MemoryState();
  const [n1] = two(state);
  const c = n1.control!;
  const v = await c.attach((await c.create(req())).id, 'n1');
  const d = (await n1.node.findDevice(v))!;
  state.writeDevice(d.path, 0, Buffer.from('before'));
  const snap = await c.snapshot!(v.id, 'pre-shrink');
  state.writeDevice(d.path, 0, Buffer.from('AFTER!'));
  await c.resize(v.id, 4 * MiB);
  assert.is(await kindOf(c.restoreSnapshot!(v.id, snap)), 'in-use');
  await n1.node.release(v);
  await c.detach(v.id);
  await c.restoreSnapshot!(v.id, snap);
  assert.is(state.snapshotOfVolumes()[0].size, 8 * MiB);
  const again = await c.attach(v.id, 'n1');
  assert.is(state.readDevice((await n1.node.findDevice(again))!.path, 0, 6).toString(), 'before');
  assert.is(await kindOf(c.restoreSnapshot!(v.id, snap)), 'unknown-volume', 'consumed');
  const s2 = await c.snapshot!(v.id, 'x');
  await c.removeSnapshot!(v.id, s2);
  assert.is(await kindOf(c.removeSnapshot!(v.id, s2)), 'unknown-volume');
});

test('a refreshed device follows a resize; verifyDevice refuses a stale size', async () => {
  const state = new MemoryState();
  const [n1] = two(state);
  const c = n1.control!;
  const v = await c.attach((await c.create(req())).id, 'n1');
  const d = (await n1.node.findDevice(v))!;
  const r = await c.resize(v.id, 16 * MiB);
  assert.is((await n1.node.findDevice(r))!.size, 8 * MiB, 'not before refresh');
  assert.match((await n1.node.verifyDevice(r, d.path))!, /refresh/);
  assert.is((await n1.node.refresh(r))!.size, 16 * MiB);
  assert.is(await n1.node.verifyDevice(r, d.path), null);
});

test('adopt: a foreign volume is listed with no dataset; set-metadata claims it; other clusters never see it then', async () => {
  const state = new MemoryState();
  const c = memoryBackend(state, { node: 'n1', credentialed: true, cluster: CLUSTER }).control!;
  const other = memoryBackend(state, { node: 'n1', credentialed: true, cluster: '00000000-0000-4000-8000-0000000000bb' }).control!;
  const id = state.addForeignVolume('legacy', 8 * MiB);
  const l = (await c.list()).find((v) => v.id === id)!;
  assert.is(l.dataset, null);
  assert.ok((await other.list()).some((v) => v.id === id), 'unclaimed: every cluster may adopt it');
  const ds = randomUUID();
  await c.setMetadata(id, { [META_DATASET]: ds, [META_CLUSTER]: CLUSTER });
  assert.is((await c.list()).find((v) => v.id === id)!.dataset, ds);
  assert.not.ok((await other.list()).some((v) => v.id === id));
  assert.is(await kindOf(c.setMetadata(id, { [META_DATASET]: 'not-a-uuid' })), 'invalid');
});

test('idempotent adapter over a timeout-after-attach: the repeat is success, attach elsewhere stays an error', async () => {
  const state = new MemoryState({ failures: [{ op: 'attach', kind: 'unavailable', times: 1, after: true }] });
  const [n1] = two(state);
  const c = idempotent(n1.control!);
  const v = await c.create(req());
  assert.is(await kindOf(c.attach(v.id, 'n1')), 'unavailable');
  const again = await c.attach(v.id, 'n1');
  assert.is(again.attached, 'n1');
  assert.is(await kindOf(c.attach(v.id, 'n2')), 'already-attached');
  assert.type(c.snapshot, 'function', 'optional methods are forwarded');
  const bare = idempotent({ ...n1.control!, snapshot: undefined, liveNodes: undefined });
  assert.is(bare.snapshot, undefined);
});

test('a release refuses while held; detach refuses while connected; reboot drops the holds', async () => {
  const state = new MemoryState();
  const [n1] = two(state);
  const c = n1.control!;
  const v = await c.attach((await c.create(req())).id, 'n1');
  const d = (await n1.node.findDevice(v))!;
  state.hold(d.path);
  assert.is(await kindOf(n1.node.release(v)), 'in-use');
  assert.is(await kindOf(c.detach(v.id)), 'in-use');
  state.reboot('n1');
  assert.equal(state.deviceState(v.id), { node: 'n1', connected: false, holds: 0, path: d.path, size: 8 * MiB });
  assert.is(await kindOf(c.detach(v.id)), null);
});

test('liveNodes lists the nodes that opened the state, less those marked down', async () => {
  const state = new MemoryState();
  const [n1] = two(state);
  assert.equal(await n1.control!.liveNodes!(), ['n1', 'n2']);
  state.setNodeAlive('n2', false);
  assert.equal(await n1.control!.liveNodes!(), ['n1']);
});

// ---- the registry and the spec string ----

const usage = (code: number) => (e: unknown) => e instanceof ToolError && e.exitCode === code;

test('registry: memory specs share state by name and carry their knobs', async () => {
  resetSharedMemoryStates();
  const a = await openBackend('memory:t1?lag_listings=1&latency=0ms&fail=attach:unavailable:once&seed=3', { node: 'n1', credentialed: true });
  const b = await openBackend('memory:t1', { node: 'n2', credentialed: true });
  const other = await openBackend('memory:t2', { node: 'n1', credentialed: true });
  const v = await a.control!.create(req());
  assert.is((await b.control!.list()).length, 0, 'lag 1');
  assert.equal((await b.control!.list()).map((x: Volume) => x.id), [v.id], 'shared with n2');
  assert.is((await other.control!.list()).length, 0, 'another name, another state');
  assert.is(await kindOf(b.control!.attach(v.id, 'n2')), 'unavailable', 'the once rule');
  assert.is(await kindOf(b.control!.attach(v.id, 'n2')), null);
  assert.is(a.control!.spec, 'memory:t1?lag_listings=1&latency=0ms&fail=attach:unavailable:once&seed=3');
  let threw: unknown = null;
  await openBackend('memory:t1?seed=4', { node: 'n3', credentialed: true }).catch((e) => (threw = e));
  assert.ok(usage(2)(threw), 'the same name with other knobs is refused');
  const lim = await (await openBackend('memory:t3?unit=4M&min=8M&max=1G&per_node=2&max_volumes=none&shrink=no', { node: 'n1', credentialed: true })).control!.limits();
  assert.equal(lim, { allocation_unit: 4 * MiB, min_size: 8 * MiB, max_size: 1024 * MiB, per_node: 2, max_volumes: null, max_bytes: null, can_shrink: false, can_snapshot: true });
  const plain = await openBackend('memory', { node: 'n1', credentialed: false });
  assert.is(plain.control, null);
  resetSharedMemoryStates();
});

test('registry: a bad spec is one usage line (exit 2); an absent backend an environment error (exit 4)', async () => {
  const cases: [string, number, RegExp][] = [
    ['', 2, /expected one of memory, loopback, dvm, openstack/],
    ['nfs:/x', 2, /unknown backend kind 'nfs'/],
    ['loopback', 2, /'loopback' needs a directory/],
    ['loopback:', 2, /needs a directory/],
    ['openstack:x', 2, /takes no ':' argument/],
    ['memory?latency=fast', 2, /knob 'latency=fast' wants a duration/],
    ['memory?lag=3', 2, /unknown knob 'lag'/],
    ['memory?seed=1&seed=2', 2, /given twice/],
    ['memory?Latency=1', 2, /lower-case key/],
    ['memory?fail=attach:boom', 2, /unknown error kind 'boom'/],
    ['memory?fail=mount:unavailable', 2, /unknown call 'mount'/],
    ['memory?fail=attach:unavailable:sometimes', 2, /unknown modifier/],
    ['memory?bad_reads=../x', 2, /not \*, ~P or a volume name/],
    ['memory?max=huge', 2, /wants a size/],
    ['memory:a/b', 2, /state name 'a\/b'/],
    ['loopback:/nonexistent/dvm-test-dir', 4, /directory '\/nonexistent\/dvm-test-dir' does not exist/],
    ['dvm:dvmnovg?devs=/nonexistent/dvm-pv', 4, /volume group 'dvmnovg' cannot be read: .*\/nonexistent\/dvm-pv/],
    ['dvm:vg0?devs=loop1', 2, /absolute device paths/],
    ['dvm:vg0?nodes=a/b', 2, /node 'a\/b' in nodes= is not hostname-like/],
    ['dvm:vg0?size=1', 2, /unknown knob 'size'/],
  ];
  for (const [spec, code, re] of cases) {
    let err: unknown = null;
    await openBackend(spec, { node: 'n1', credentialed: true }).catch((e) => (err = e));
    assert.ok(usage(code)(err), `${spec}: exit ${code}, got ${String(err)}`);
    const msg = (err as ToolError).message;
    assert.match(msg, re, spec);
    assert.not.match(msg, /\n/, 'one line');
    assert.ok(msg.startsWith(`invalid backend '${spec}'`) || msg.startsWith(`backend '${spec}'`), msg);
  }
});

test('parseBackendSpec splits kind, argument and knobs; a bare knob means yes', () => {
  const s = parseBackendSpec('loopback:/srv/lb?per_node=4&snapshot');
  assert.is(s.kind, 'loopback');
  assert.is(s.arg, '/srv/lb');
  assert.equal(s.knobs.values, { per_node: '4', snapshot: 'yes' });
  assert.is(parseBackendSpec('memory').arg, null);
});

test.run();
