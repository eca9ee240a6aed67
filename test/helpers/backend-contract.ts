// The one backend contract suite: Flocker's make_iblockdeviceapi_tests cases
// in this interface's terms, plus the rules of src/agent/backend/types.ts and
// CSI's repeat-is-success through the idempotent adapter. Every backend runs
// it (memory: test/unit, loopback: test/root, dvm and openstack in theirs):
//   backendContract({ name: 'memory', setup, unknownId: 'mem-999999', ... });
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { BackendError, META_CLUSTER, META_DATASET, type Backend, type ControlPlane } from '../../src/agent/backend/types.js';
import { idempotent } from '../../src/agent/backend/idempotent.js';
import type { Volume } from '../../src/agent/docs.js';

export interface ContractWorld {
  /** A backend for `node` on this world's shared state. */
  backend(node: string, opts: { cluster: string; credentialed: boolean }): Promise<Backend>;
  /** Pins a device the way a mount or an open does; returns the undo. Absent: the backend cannot tell. */
  hold?(path: string): Promise<() => Promise<void>>;
  /** The node restarts: local devices disconnected (loop devices detached) while attachments stay. */
  reboot?(node: string): Promise<void>;
  /** Releases everything and removes the world (runs in `finally`). */
  cleanup(): Promise<void>;
}

export interface ContractTarget {
  name: string;
  setup(): Promise<ContractWorld>;
  /** A well-formed id that names no volume. */
  unknownId: string;
  /** Size the tests create volumes at (>= the backend's minimum, a multiple of its unit). */
  size: number;
  /** Devices are real block devices: check them with stat and blockdev. */
  realDevices: boolean;
  /** Eventually consistent: repeat a listing up to this many times (Flocker's repeat_retries). */
  retries?: number;
  retryDelayMs?: number;
  /** Whether detach sees a device still connected on its node (throws in-use). */
  detectsConnected: boolean;
}

const CLUSTER = '00000000-0000-4000-8000-00000000c1a5';

export function backendContract(t: ContractTarget): void {
  const s = suite(`backend contract: ${t.name}`);
  const retries = t.retries ?? 0;

  async function withWorld(fn: (w: ContractWorld, n1: Backend, n2: Backend) => Promise<void>): Promise<void> {
    const w = await t.setup();
    try {
      await fn(w, await w.backend('n1', { cluster: CLUSTER, credentialed: true }), await w.backend('n2', { cluster: CLUSTER, credentialed: true }));
    } finally {
      await w.cleanup();
    }
  }

  const ctl = (b: Backend): ControlPlane => {
    assert.ok(b.control, 'a credentialed backend has a control plane');
    return b.control!;
  };

  /** Lists until `check` holds (eventual consistency), then returns that listing. */
  async function listUntil(c: ControlPlane, check: (vs: Volume[]) => boolean, what: string): Promise<Volume[]> {
    for (let i = 0; ; i++) {
      const vs = await c.list();
      if (check(vs)) return vs;
      if (i >= retries) assert.unreachable(`listing never showed: ${what} (after ${retries + 1} listings)\n${JSON.stringify(vs)}`);
      if (t.retryDelayMs) await new Promise((r) => setTimeout(r, t.retryDelayMs));
    }
  }

  const listed = async (c: ControlPlane, id: string) => (await listUntil(c, (vs) => vs.some((v) => v.id === id), `volume ${id}`)).find((v) => v.id === id)!;
  const absent = (c: ControlPlane, id: string) => listUntil(c, (vs) => !vs.some((v) => v.id === id), `volume ${id} gone`);

  let seq = 0;
  async function create(c: ControlPlane, size = t.size, metadata: Record<string, string> = {}): Promise<Volume> {
    const dataset = randomUUID();
    return c.create({ cluster: CLUSTER, dataset, name: `dvm-contract-${++seq}`, size, metadata });
  }

  async function expectError(p: Promise<unknown>, kind: string, node?: string): Promise<BackendError> {
    try {
      await p;
    } catch (e) {
      assert.instance(e, BackendError, `a BackendError, got ${String(e)}`);
      const be = e as BackendError;
      assert.is(be.kind, kind, `error kind (message: ${be.message})`);
      if (node !== undefined) assert.is(be.node, node, 'the error names the node');
      return be;
    }
    assert.unreachable(`expected a '${kind}' error`);
    throw new Error('unreachable');
  }

  /** findDevice, waiting a little for backends whose device appears late. */
  async function device(b: Backend, v: Volume) {
    for (let i = 0; i < 20; i++) {
      const d = await b.node.findDevice(v);
      if (d) return d;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.unreachable(`no device for ${v.id}`);
    throw new Error('unreachable');
  }

  function checkRealDevice(path: string, size: number) {
    if (!t.realDevices) return;
    assert.ok(statSync(path).isBlockDevice(), `${path} is a block device`);
    const got = Number(execFileSync('blockdev', ['--getsize64', path], { encoding: 'utf8' }).trim());
    assert.is(got, size, `blockdev --getsize64 ${path}`);
    const ls = Number(execFileSync('lsblk', ['-bdno', 'SIZE', path], { encoding: 'utf8' }).trim());
    assert.is(ls, size, `lsblk SIZE of ${path}`);
  }

  s('implements both planes; a node without credentials has no control plane; limits are sane', () =>
    withWorld(async (w, n1) => {
      const c = ctl(n1);
      for (const m of ['limits', 'list', 'create', 'destroy', 'attach', 'detach', 'resize', 'setMetadata'] as const) assert.type(c[m], 'function', m);
      for (const m of ['findDevice', 'verifyDevice', 'refresh', 'release'] as const) assert.type(n1.node[m], 'function', m);
      assert.type(c.spec, 'string');
      assert.ok(n1.volumeIdPattern.test(t.unknownId), 'the unknown id is well-formed');
      const plain = await w.backend('n3', { cluster: CLUSTER, credentialed: false });
      assert.is(plain.control, null);
      const lim = await c.limits();
      assert.ok(lim.allocation_unit > 0 && lim.min_size > 0 && lim.min_size <= lim.max_size, JSON.stringify(lim));
      assert.ok(t.size >= lim.min_size && t.size % lim.allocation_unit === 0, 'the suite size fits the limits');
    }),
  );

  s('a created volume is listed with its attributes; its device has the requested size', () =>
    withWorld(async (_w, n1) => {
      const c = ctl(n1);
      const v = await create(c, t.size, { owner: 'contract' });
      assert.ok(n1.volumeIdPattern.test(v.id), `id ${v.id} matches the pattern`);
      const l = await listed(c, v.id);
      assert.is(l.size, t.size);
      assert.is(l.attached, null);
      assert.is(l.status, 'available');
      assert.is(l.name, v.name);
      assert.is(l.dataset, v.dataset);
      assert.is(l.metadata[META_DATASET], v.dataset);
      assert.is(l.metadata[META_CLUSTER], CLUSTER);
      assert.is(l.metadata.owner, 'contract');
      const a = await c.attach(v.id, 'n1');
      assert.is(a.attached, 'n1');
      const d = await device(n1, a);
      assert.is(d.size, t.size);
      checkRealDevice(d.path, t.size);
      assert.is(await n1.node.verifyDevice(a, d.path), null, 'verifyDevice accepts its own device');
    }),
  );

  s('sizes are rounded up to the allocation unit; past the maximum is limit-exceeded', () =>
    withWorld(async (_w, n1) => {
      const c = ctl(n1);
      const lim = await c.limits();
      const v = await create(c, t.size - 1);
      assert.is(v.size, t.size, 'rounded up');
      await expectError(create(c, lim.max_size + lim.allocation_unit), 'limit-exceeded');
    }),
  );

  s('attach of an unknown volume is unknown-volume; a malformed id is refused before any use', () =>
    withWorld(async (_w, n1) => {
      const c = ctl(n1);
      await expectError(c.attach(t.unknownId, 'n1'), 'unknown-volume');
      for (const bad of ['../../dev/sda', '/dev/sda', 'x/../y', '']) {
        await expectError(c.attach(bad, 'n1'), 'invalid');
        await expectError(c.destroy(bad), 'invalid');
        await expectError(n1.node.findDevice({ id: bad } as Volume), 'invalid');
      }
    }),
  );

  s('attach twice, or to another node, is already-attached naming the node', () =>
    withWorld(async (_w, n1) => {
      const c = ctl(n1);
      const v = await create(c);
      await c.attach(v.id, 'n1');
      await expectError(c.attach(v.id, 'n1'), 'already-attached', 'n1');
      await expectError(c.attach(v.id, 'n2'), 'already-attached', 'n1');
      assert.is((await listUntil(c, (vs) => vs.some((x) => x.id === v.id && x.attached === 'n1'), 'attached to n1')).length > 0, true);
    }),
  );

  s('several volumes attach to one node, each with its own stable device', () =>
    withWorld(async (_w, n1) => {
      const c = ctl(n1);
      const vs = [await create(c), await create(c), await create(c)];
      const paths = [];
      for (const v of vs) {
        const a = await c.attach(v.id, 'n1');
        const d = await device(n1, a);
        const again = await n1.node.findDevice(a);
        assert.equal(again, d, 'the same answer every time');
        checkRealDevice(d.path, t.size);
        paths.push(d.path);
      }
      assert.is(new Set(paths).size, 3, `distinct devices ${paths}`);
      const l = await listUntil(c, (xs) => vs.every((v) => xs.some((x) => x.id === v.id && x.attached === 'n1')), 'all three attached');
      assert.is(l.filter((x) => x.attached === 'n1').length, 3);
    }),
  );

  s('findDevice is null where the volume is not attached to this node; verifyDevice says why a path is wrong', () =>
    withWorld(async (_w, n1, n2) => {
      const c = ctl(n1);
      const v = await create(c);
      const u = await create(c);
      assert.is(await n1.node.findDevice(v), null, 'not attached');
      assert.is(await n1.node.findDevice({ ...v, id: t.unknownId }), null, 'unknown');
      const a = await c.attach(v.id, 'n1');
      assert.is(await n2.node.findDevice(a), null, 'attached elsewhere');
      const d = await device(n1, a);
      const b = await c.attach(u.id, 'n1');
      const e = await device(n1, b);
      assert.type(await n1.node.verifyDevice(a, e.path), 'string', "another volume's device is refused");
      assert.type(await n2.node.verifyDevice(a, d.path), 'string', 'not attached to n2');
      assert.is(await n1.node.verifyDevice(a, d.path), null);
    }),
  );

  s('destroy twice is unknown-volume; destroy leaves the others alone; an attached volume is not destroyed', () =>
    withWorld(async (_w, n1) => {
      const c = ctl(n1);
      const keep = await create(c);
      const v = await create(c);
      const att = await create(c);
      await c.attach(att.id, 'n1');
      await expectError(c.destroy(att.id), 'already-attached', 'n1');
      await c.destroy(v.id);
      await expectError(c.destroy(v.id), 'unknown-volume');
      const l = await absent(c, v.id);
      assert.ok(l.some((x) => x.id === keep.id && x.size === t.size), 'the other volume is still there');
      assert.ok(l.some((x) => x.id === att.id), 'the attached volume is still there');
      await expectError(c.attach(v.id, 'n1'), 'unknown-volume');
    }),
  );

  s('detach of an unknown volume is unknown-volume; detach twice is not-attached; re-attach after detach works', () =>
    withWorld(async (_w, n1, n2) => {
      const c = ctl(n1);
      await expectError(c.detach(t.unknownId), 'unknown-volume');
      const v = await create(c);
      await expectError(c.detach(v.id), 'not-attached');
      const a = await c.attach(v.id, 'n1');
      const d1 = await device(n1, a);
      if (t.detectsConnected) await expectError(c.detach(v.id), 'in-use', 'n1');
      await n1.node.release(a);
      await n1.node.release(a); // idempotent
      await c.detach(v.id);
      await expectError(c.detach(v.id), 'not-attached');
      assert.is(await n1.node.findDevice(a), null, 'no device after detach');
      const back = await c.attach(v.id, 'n2');
      assert.is(back.attached, 'n2');
      const d2 = await device(n2, back);
      assert.is(d2.size, t.size);
      checkRealDevice(d2.path, t.size);
      assert.type(await n1.node.verifyDevice(back, d1.path), 'string', 'the old device is not accepted on n1');
    }),
  );

  s('findDevice with connect: false answers the connected device and never connects one', () =>
    withWorld(async (_w, n1) => {
      const look = (v: Volume) => n1.node.findDevice(v, { connect: false });
      const c = ctl(n1);
      const a = await c.attach((await create(c)).id, 'n1');
      const d = await device(n1, a);
      assert.equal(await look(a), d);
      await n1.node.release(a);
      assert.is(await look(a), null, 'released: not connected again');
      assert.is(await look(a), null);
      assert.equal((await device(n1, a)).identity, d.identity, 'findDevice connects it again');
      assert.is(await look({ ...a, id: t.unknownId }), null);
    }),
  );

  s('release refuses a held device and then succeeds', () =>
    withWorld(async (w, n1) => {
      if (!w.hold) return;
      const c = ctl(n1);
      const a = await c.attach((await create(c)).id, 'n1');
      const d = await device(n1, a);
      const undo = await w.hold(d.path);
      try {
        await expectError(n1.node.release(a), 'in-use');
        if (t.detectsConnected) await expectError(c.detach(a.id), 'in-use');
      } finally {
        await undo();
      }
      await n1.node.release(a);
      await c.detach(a.id);
    }),
  );

  s('resize grows the volume and, after refresh, its device; the same size is success; shrink follows can_shrink', () =>
    withWorld(async (_w, n1) => {
      const c = ctl(n1);
      const lim = await c.limits();
      const v = await create(c);
      const a = await c.attach(v.id, 'n1');
      await device(n1, a);
      const big = 2 * t.size;
      const r = await c.resize(v.id, big);
      assert.is(r.size, big);
      assert.is((await listUntil(c, (vs) => vs.some((x) => x.id === v.id && x.size === big), 'grown')).length > 0, true);
      const d = await n1.node.refresh(r);
      assert.ok(d, 'a device after refresh');
      assert.is(d!.size, big);
      checkRealDevice(d!.path, big);
      assert.is(await n1.node.verifyDevice(r, d!.path), null);
      assert.is((await c.resize(v.id, big)).size, big, 'same size: success');
      if (lim.can_shrink) {
        assert.is((await c.resize(v.id, t.size)).size, t.size);
        const s2 = await n1.node.refresh({ ...r, size: t.size });
        assert.is(s2!.size, t.size);
        checkRealDevice(s2!.path, t.size);
      } else await expectError(c.resize(v.id, t.size), 'unsupported');
      await expectError(c.resize(t.unknownId, big), 'unknown-volume');
    }),
  );

  s('set-metadata merges and round-trips; bad keys are invalid', () =>
    withWorld(async (_w, n1) => {
      const c = ctl(n1);
      const v = await create(c, t.size, { a: '1' });
      await c.setMetadata(v.id, { b: '2', 'x.y:z': 'with spaces and ünïcode' });
      const l = await listUntil(c, (vs) => vs.some((x) => x.id === v.id && x.metadata.b === '2'), 'metadata b=2');
      const m = l.find((x) => x.id === v.id)!.metadata;
      assert.is(m.a, '1');
      assert.is(m['x.y:z'], 'with spaces and ünïcode');
      assert.is(m[META_DATASET], v.dataset);
      await expectError(c.setMetadata(v.id, { 'bad key': 'x' }), 'invalid');
      await expectError(c.setMetadata(t.unknownId, { a: 'b' }), 'unknown-volume');
      // Adopt: a volume's dataset id can be set afterwards.
      const other = randomUUID();
      await c.setMetadata(v.id, { [META_DATASET]: other });
      await listUntil(c, (vs) => vs.some((x) => x.id === v.id && x.dataset === other), 'dataset id changed');
    }),
  );

  s("list shows this cluster's volumes and no other cluster's", () =>
    withWorld(async (w, n1) => {
      const c = ctl(n1);
      const OTHER = '00000000-0000-4000-8000-0000000000b2';
      const other = ctl(await w.backend('n1', { cluster: OTHER, credentialed: true }));
      const mine = await create(c);
      const theirs = await other.create({ cluster: OTHER, dataset: randomUUID(), name: 'dvm-theirs', size: t.size, metadata: {} });
      await listed(other, theirs.id);
      await listed(c, mine.id);
      assert.not.ok((await c.list()).some((x) => x.id === theirs.id), "the other cluster's volume is not listed");
      assert.not.ok((await other.list()).some((x) => x.id === mine.id));
    }),
  );

  s('a node that rebooted gets its attached volume back (reconnected, same identity)', () =>
    withWorld(async (w, n1) => {
      if (!w.reboot) return;
      const c = ctl(n1);
      const a = await c.attach((await create(c)).id, 'n1');
      const d = await device(n1, a);
      await w.reboot('n1');
      const again = await device(n1, a);
      assert.is(again.identity, d.identity);
      assert.is(again.size, t.size);
      checkRealDevice(again.path, t.size);
      assert.is(await n1.node.verifyDevice(a, again.path), null);
    }),
  );

  s('the idempotent adapter makes repeats success and keeps real conflicts errors', () =>
    withWorld(async (_w, n1) => {
      const c = idempotent(ctl(n1));
      const v = await create(c);
      const a = await c.attach(v.id, 'n1');
      // An eventually consistent listing may not show the attachment yet: that is a retry.
      let again: Volume | null = null;
      for (let i = 0; !again; i++) {
        try {
          again = await c.attach(v.id, 'n1');
        } catch (e) {
          if (!(e instanceof BackendError && e.kind === 'unavailable' && i < retries)) throw e;
          if (t.retryDelayMs) await new Promise((r) => setTimeout(r, t.retryDelayMs));
        }
      }
      assert.is(again.id, v.id);
      assert.is(again.attached, 'n1');
      await expectError(c.attach(v.id, 'n2'), 'already-attached', 'n1');
      await n1.node.release(a);
      await c.detach(v.id);
      await c.detach(v.id);
      await c.destroy(v.id);
      await c.destroy(v.id);
      await c.destroy(t.unknownId);
      await c.detach(t.unknownId);
      await expectError(c.attach(v.id, 'n1'), 'unknown-volume');
    }),
  );

  s('snapshots, where limits say the backend takes them: none listed as a volume, removed once, restored once (consumed), the origin kept', () =>
    withWorld(async (_w, n1) => {
      const c = ctl(n1);
      const v = await create(c);
      if (!(await c.limits()).can_snapshot) {
        if (c.snapshot) await expectError(c.snapshot(v.id, 'x'), 'unsupported');
        return;
      }
      assert.ok(c.snapshot && c.removeSnapshot && c.restoreSnapshot, 'can_snapshot: all three snapshot calls');
      await expectError(c.snapshot!(t.unknownId, 'x'), 'unknown-volume');
      const sid = await c.snapshot!(v.id, 'before-shrink');
      assert.type(sid, 'string');
      const l = await listUntil(c, (vs) => vs.some((x) => x.id === v.id), 'the origin listed');
      assert.not.ok(l.some((x) => x.id === sid), 'a snapshot is not a volume');
      assert.ok(l.some((x) => x.id === v.id && x.size === t.size), 'the origin is listed at its size');
      await expectError(c.removeSnapshot!(t.unknownId, sid), 'unknown-volume');
      await c.removeSnapshot!(v.id, sid);
      await expectError(c.removeSnapshot!(v.id, sid), 'unknown-volume');
      const back = await c.snapshot!(v.id, 'to-restore');
      await c.restoreSnapshot!(v.id, back);
      await expectError(c.removeSnapshot!(v.id, back), 'unknown-volume');
      await expectError(c.restoreSnapshot!(v.id, back), 'unknown-volume');
      assert.ok((await c.list()).some((x) => x.id === v.id && x.size === t.size), 'the origin is still there, at its size');
      await c.destroy(v.id);
    }),
  );

  s.run();
}
