// Builders for planner inputs: desired entries, listings, node states and
// statuses, with defaults a test overrides only where its cell differs.
import type { DatasetsDoc, DatasetStatus, DesiredDataset, Limits, LocalDevice, NodeStateDoc, Volume, VolumesDoc } from '../../src/agent/docs.js';
import type { PlanInput, PlanNode } from '../../src/agent/plan/types.js';

export const MiB = 1024 * 1024;
export const CLUSTER = '00000000-0000-4000-8000-000000000000';
export const NOW = '2026-12-02T03:00:00.000Z';

/** Dataset ids d(1), d(2), ... as UUIDs. */
export const did = (n: number) => `${'0'.repeat(8)}-0000-4000-8000-${String(n).padStart(12, '0')}`;

export const LIMITS: Limits = {
  allocation_unit: MiB,
  min_size: MiB,
  max_size: 1024 * 1024 * MiB,
  per_node: null,
  max_volumes: null,
  max_bytes: null,
  can_shrink: true,
  can_snapshot: true,
};

export function desired(over: Partial<DesiredDataset> = {}): DesiredDataset {
  return { name: 'a', size: 64 * MiB, filesystem: 'ext4', node: 'n1', mount: null, deleted: false, changed: NOW, ...over };
}

export function volume(over: Partial<Volume> = {}): Volume {
  return { id: 'vol-1', dataset: did(1), name: 'dvm-a', size: 64 * MiB, status: 'in-use', attached: 'n1', metadata: {}, ...over };
}

export function listing(volumes: Volume[], over: Partial<VolumesDoc> = {}, limits: Partial<Limits> = {}): VolumesDoc {
  return { format: 'dvm.volumes/1', backend: 'memory', listed_at: NOW, listed_by: 'c', volumes, limits: { ...LIMITS, ...limits }, ...over };
}

export function device(over: Partial<LocalDevice> = {}): LocalDevice {
  return {
    path: '/dev/memory/n1/vdb',
    identity: 'memory:vol-1',
    size: 64 * MiB,
    blank: false,
    signature: { type: 'ext4', uuid: 'uuid-1', partition: null },
    mount: { path: '/mnt/dvm/a', read_only: false },
    held: false,
    fsck: null,
    fs_size: 64 * MiB,
    error: null,
    ...over,
  };
}

export const BLANK: Partial<LocalDevice> = { blank: true, signature: null, mount: null, fs_size: null };

export function nodeState(node: string, devices: Record<string, LocalDevice> = {}, over: Partial<NodeStateDoc> = {}): NodeStateDoc {
  return { format: 'dvm.node-state/1', node, observed_at: NOW, mount_root: '/mnt/dvm', devices, stray_mounts: [], apps: [], ...over };
}

export function status(id: string, over: Partial<DatasetStatus> = {}): DatasetStatus {
  return { format: 'dvm.dataset-status/1', id, phase: 'pending', reason: 'x', error: null, since: NOW, by: 'c', observed: null, markers: {}, formatted: null, ...over };
}

export const FORMATTED = (volume = 'vol-1', uuid = 'uuid-1'): DatasetStatus['formatted'] => ({ volume, filesystem: 'ext4', uuid, at: NOW, by: 'n1' });

/** A cluster of a credentialed controller `c` (no data) and nodes n1, n2, all alive and reporting. */
export function input(
  opts: {
    datasets?: Record<string, DesiredDataset>;
    volumes?: Volume[] | null;
    devices?: Record<string, Record<string, LocalDevice>>;
    nodes?: Record<string, Partial<PlanNode>>;
    statuses?: Record<string, DatasetStatus>;
    limits?: Partial<Limits>;
    listing?: Partial<VolumesDoc>;
    node?: string;
    credentialed?: boolean;
    now?: string;
  } = {},
): PlanInput {
  const datasets = opts.datasets ?? { [did(1)]: desired() };
  const doc: DatasetsDoc = { format: 'dvm.datasets/1', cluster: CLUSTER, datasets };
  const nodes: Record<string, PlanNode> = {};
  for (const n of ['c', 'n1', 'n2']) {
    nodes[n] = { state: nodeState(n, opts.devices?.[n] ?? {}), alive: true, leader: n === 'c' };
  }
  for (const [n, o] of Object.entries(opts.nodes ?? {})) nodes[n] = { ...(nodes[n] ?? { state: nodeState(n), alive: true }), ...o };
  return {
    desired: doc,
    statuses: opts.statuses ?? {},
    listing: opts.volumes === null ? null : listing(opts.volumes ?? [], opts.listing, opts.limits),
    nodes,
    node: opts.node ?? 'c',
    credentialed: opts.credentialed ?? (opts.node === undefined || opts.node === 'c'),
    now: opts.now ?? NOW,
  };
}
