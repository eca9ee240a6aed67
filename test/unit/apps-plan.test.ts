// The planner's application rules: an application is stopped (and its data
// directory unbound) before its dataset is unmounted for a move, a detach or
// a shrink; once the dataset is mounted where it should be, the
// application's data is brought onto it and the application started; a
// dataset whose application was removed has it stopped; read-only mounts
// are never migrated onto.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { plan } from '../../src/agent/plan/index.js';
import type { PlanInput } from '../../src/agent/plan/types.js';
import type { DatasetsDoc, DatasetStatus, LocalDevice, NodeStateDoc, Volume } from '../../src/agent/docs.js';

const ID = '11111111-1111-4111-8111-111111111111';
const CL = '00000000-0000-4000-8000-000000000000';
const T = '2026-12-02T03:00:00Z';
const G = 1 << 30;

function world(o: { node: string | null; attached: string | null; app?: string; dev?: Partial<LocalDevice> | null; apps?: string[]; size?: number; shrink?: boolean }): PlanInput {
  const desired: DatasetsDoc = {
    format: 'dvm.datasets/1',
    cluster: CL,
    datasets: { [ID]: { name: 'pg', size: o.size ?? G, filesystem: 'ext4', node: o.node, mount: null, deleted: false, changed: T, ...(o.app ? { app: o.app } : {}), ...(o.shrink ? { shrink_to: o.size } : {}) } },
  };
  const v: Volume = { id: 'vol-1', dataset: ID, name: 'dvm-pg', size: G, status: o.attached ? 'in-use' : 'available', attached: o.attached, metadata: { 'dvm.dataset': ID, 'dvm.cluster': CL } };
  const status: DatasetStatus = {
    format: 'dvm.dataset-status/1', id: ID, phase: 'converged', reason: null, error: null, since: T, by: 'n1', observed: null, markers: {},
    formatted: { volume: 'vol-1', filesystem: 'ext4', uuid: 'aaaa', at: T, by: 'n1' },
  };
  const dev = (node: string): LocalDevice => ({
    path: '/dev/loop7', identity: '/lb/vol-1', size: G, blank: false, signature: { type: 'ext4', uuid: 'aaaa', partition: null },
    mount: { path: `/mnt/${node}/pg`, read_only: false }, held: false, fsck: null, fs_size: G, error: null, ...(o.dev ?? {}),
  });
  const state = (node: string): NodeStateDoc => ({
    format: 'dvm.node-state/1', node, observed_at: T, mount_root: `/mnt/${node}`, stray_mounts: [], apps: o.apps ?? ['pg'],
    devices: o.attached === node && o.dev !== null ? { 'vol-1': dev(node) } : {},
  });
  return {
    desired, statuses: { [ID]: status }, now: T, node: 'n1', credentialed: true,
    listing: { format: 'dvm.volumes/1', backend: 'memory', listed_at: T, listed_by: 'n1', volumes: [v], limits: { allocation_unit: 1 << 20, min_size: 1 << 20, max_size: 2 ** 40, per_node: null, max_volumes: null, max_bytes: null, can_shrink: true, can_snapshot: false } },
    nodes: { n1: { state: state('n1'), alive: true, leader: true }, n2: { state: state('n2'), alive: true } },
  };
}

const only = (p: ReturnType<typeof plan>) => [...p.steps, ...p.waiting_for].map((s) => `${s.action}@${s.runs_on}${s.args.app ? `:${s.args.app}` : ''}`);

test('mounted where it should be, not yet served: migrate, then start', () => {
  assert.equal(only(plan(world({ node: 'n1', attached: 'n1', app: 'pg' }))), ['migrate@node:n1:pg']);
  const served = plan(world({ node: 'n1', attached: 'n1', app: 'pg', dev: { app: { name: 'pg', served: true, started: false } } }));
  assert.equal(only(served), ['app-start@node:n1:pg']);
  assert.is(served.datasets[ID].phase, 'pending');
  assert.match(served.datasets[ID].reason!, /starting application 'pg'/);
  const running = plan(world({ node: 'n1', attached: 'n1', app: 'pg', dev: { app: { name: 'pg', served: true, started: true } } }));
  assert.equal(only(running), []);
  assert.is(running.datasets[ID].phase, 'converged');
});

test('a move stops the application on the old node before the unmount', () => {
  const p = plan(world({ node: 'n2', attached: 'n1', app: 'pg', dev: { app: { name: 'pg', served: true, started: true } } }));
  assert.equal(only(p), ['app-stop@node:n1:pg']);
  assert.match(p.datasets[ID].reason!, /stopping application 'pg' on node 'n1' before unmounting/);
  // Stopped and unbound: now the unmount.
  const after = plan(world({ node: 'n2', attached: 'n1', app: 'pg', dev: { app: null } }));
  assert.equal(only(after), ['unmount@node:n1']);
});

test('a detach (unit left the map: no app in the desired entry) still stops what runs there', () => {
  const p = plan(world({ node: null, attached: 'n1', dev: { app: { name: 'pg', served: true, started: false } } }));
  assert.equal(only(p), ['app-stop@node:n1:pg']);
});

test('an application removed from a dataset that stays put is stopped', () => {
  const p = plan(world({ node: 'n1', attached: 'n1', dev: { app: { name: 'pg', served: true, started: true } } }));
  assert.equal(only(p), ['app-stop@node:n1:pg']);
});

test('an explicit shrink stops the application before its unmount', () => {
  const p = plan(world({ node: 'n1', attached: 'n1', app: 'pg', size: G / 2, shrink: true, dev: { app: { name: 'pg', served: true, started: true } } }));
  assert.equal(only(p), ['app-stop@node:n1:pg']);
});

test('read-only (degraded) mounts are not migrated onto; undefined applications block', () => {
  const ro = plan(world({ node: 'n1', attached: 'n1', app: 'pg', dev: { mount: { path: '/mnt/n1/pg', read_only: true } } }));
  assert.equal(only(ro), []);
  assert.is(ro.datasets[ID].phase, 'degraded');
  const undef = plan(world({ node: 'n1', attached: 'n1', app: 'pg', apps: [] }));
  assert.equal(only(undef), []);
  assert.is(undef.datasets[ID].phase, 'blocked');
  assert.match(undef.datasets[ID].reason!, /application 'pg' is not defined on node 'n1'/);
});

test('--partition: a blank volume gets its table and filesystem in one mkfs step; a partitioned one is mounted, checked and unmounted through its partition', () => {
  const blank = world({ node: 'n1', attached: 'n1', dev: { blank: true, signature: null, mount: null, fs_size: null } });
  blank.desired.datasets[ID].partition = true;
  blank.statuses = {};
  const mk = plan(blank).steps;
  assert.equal(mk.map((s) => [s.action, s.args.partition]), [['mkfs', true]]);
  // Without --partition the same device is formatted whole: no partition argument.
  const whole = world({ node: 'n1', attached: 'n1', dev: { blank: true, signature: null, mount: null, fs_size: null } });
  whole.statuses = {};
  assert.equal(plan(whole).steps.map((s) => [s.action, s.args.partition]), [['mkfs', undefined]]);

  const part = { type: 'ext4', uuid: 'aaaa', partition: '/dev/loop7p1' };
  const unmounted = plan(world({ node: 'n1', attached: 'n1', dev: { signature: part, mount: null } })).steps;
  assert.equal(unmounted.map((s) => [s.action, s.args.device, s.args.partition]), [['mount', '/dev/loop7', '/dev/loop7p1']]);
  const moving = plan(world({ node: 'n2', attached: 'n1', dev: { signature: part } })).steps;
  assert.equal(moving.map((s) => [s.action, s.args.partition]), [['unmount', '/dev/loop7p1']]);
  // The filesystem sits 1 MiB into the device: no grow-fs for the difference.
  assert.equal(plan(world({ node: 'n1', attached: 'n1', dev: { signature: part, fs_size: G - (1 << 20) } })).steps, []);
});

test('an adopted volume with one filesystem partition is recorded from it; a partitioned dataset grows volume, partition, filesystem in turn; a shrink is refused with the reason', () => {
  const adopt = world({ node: 'n1', attached: 'n1', dev: { signature: { type: 'ext4', uuid: 'bbbb', partition: '/dev/loop7p1' }, mount: null } });
  adopt.desired.datasets[ID].volume = 'vol-1';
  adopt.statuses = {};
  assert.equal(plan(adopt).steps.map((s) => [s.action, s.args.partition, s.args.uuid]), [['record', '/dev/loop7p1', 'bbbb']]);
  const M = 1 << 20;
  const sig = { type: 'ext4', uuid: 'aaaa', partition: '/dev/loop7p1' };
  const grown = (dev: Partial<LocalDevice>, volume = 2 * G) => {
    const w = world({ node: 'n1', attached: 'n1', size: 2 * G, dev: { signature: sig, fs_size: G - M, partition_span: { start: M, size: G - M }, ...dev } });
    w.listing!.volumes[0].size = volume;
    return plan(w);
  };
  const steps = (p: ReturnType<typeof plan>) => p.steps.map((s) => [s.action, s.args.partition, s.args.size]);
  assert.equal(steps(grown({}, G)), [['resize', undefined, 2 * G]], 'the volume first');
  assert.equal(steps(grown({ size: 2 * G })), [['grow-partition', '/dev/loop7p1', 2 * G]], 'then the partition, to the device end');
  assert.equal(steps(grown({ size: 2 * G, partition_span: { start: M, size: 2 * G - M } })), [['grow-fs', '/dev/loop7p1', 2 * G - M]], 'then its filesystem, to fill the partition');
  const done = grown({ size: 2 * G, partition_span: { start: M, size: 2 * G - M }, fs_size: 2 * G - M });
  assert.equal(done.steps, []);
  assert.is(done.datasets[ID].phase, 'converged');
  // A host that cannot say where the partition lies: no partition step is guessed.
  assert.equal(grown({ size: 2 * G, partition_span: null }).steps, []);
  const shrink = plan(world({ node: 'n1', attached: 'n1', size: G / 2, shrink: true, dev: { signature: { type: 'ext4', uuid: 'aaaa', partition: '/dev/loop7p1' } } }));
  assert.is(shrink.datasets[ID].phase, 'blocked');
  assert.match(shrink.datasets[ID].reason!, /does not shrink/);
});

test.run();
