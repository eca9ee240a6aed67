// One planner pass over 10,000 datasets (target: well under a second), from
// the credentialed node's point of view and a data node's. Most datasets are
// converged (mounted where they should be); every tenth needs a step (create,
// attach, mkfs, mount, grow), so the pass walks every branch kind.
// Run: npm run bench (or node dist/bench/agent-plan.js [N]).
import { performance } from 'node:perf_hooks';
import { plan } from '../src/agent/plan/index.js';
import type { DatasetStatus, DesiredDataset, LocalDevice, NodeStateDoc, Volume } from '../src/agent/docs.js';
import type { PlanInput, PlanNode } from '../src/agent/plan/types.js';

const N = Number(process.argv[2] ?? 10_000);
const NODES = 10;
const MiB = 1024 * 1024;
const NOW = '2026-12-02T03:00:00.000Z';
const id = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

function build(): PlanInput {
  const datasets: Record<string, DesiredDataset> = {};
  const statuses: Record<string, DatasetStatus> = {};
  const volumes: Volume[] = [];
  const devices: Record<string, Record<string, LocalDevice>> = {};
  for (let n = 0; n < NODES; n++) devices[`n${n}`] = {};
  for (let i = 0; i < N; i++) {
    const node = `n${i % NODES}`;
    const kind = i % 10 === 9 ? Math.floor(i / 10) % 5 : -1; // -1 converged; 0..4 one step each
    datasets[id(i)] = { name: `ds${i}`, size: (kind === 4 ? 128 : 64) * MiB, filesystem: 'ext4', node, mount: null, deleted: false, changed: NOW };
    if (kind === 0) continue; // to create
    const vid = `mem-${String(i).padStart(8, '0')}`;
    volumes.push({ id: vid, dataset: id(i), name: `dvm-ds${i}`, size: 64 * MiB, status: kind === 1 ? 'available' : 'in-use', attached: kind === 1 ? null : node, metadata: {} });
    if (kind === 1) continue; // to attach
    const blank = kind === 2;
    if (!blank) statuses[id(i)] = { format: 'dvm.dataset-status/1', id: id(i), phase: 'converged', reason: null, error: null, since: NOW, by: node, observed: null, markers: {}, formatted: { volume: vid, filesystem: 'ext4', uuid: `u${i}`, at: NOW, by: node } };
    devices[node][vid] = {
      path: `/dev/memory/${node}/v${i}`, identity: `memory:${vid}`, size: 64 * MiB, blank, held: false, fsck: null, error: null,
      signature: blank ? null : { type: 'ext4', uuid: `u${i}`, partition: null },
      mount: blank || kind === 3 ? null : { path: `/mnt/dvm/ds${i}`, read_only: false },
      fs_size: blank ? null : 64 * MiB,
    };
  }
  const nodes: Record<string, PlanNode> = { c: { state: null, alive: true, leader: true } };
  for (let n = 0; n < NODES; n++) {
    const state: NodeStateDoc = { format: 'dvm.node-state/1', node: `n${n}`, observed_at: NOW, mount_root: '/mnt/dvm', devices: devices[`n${n}`], stray_mounts: [], apps: [] };
    nodes[`n${n}`] = { state, alive: true };
  }
  return {
    desired: { format: 'dvm.datasets/1', cluster: id(999_999), datasets },
    statuses,
    listing: { format: 'dvm.volumes/1', backend: 'memory', listed_at: NOW, listed_by: 'c', volumes, limits: { allocation_unit: MiB, min_size: MiB, max_size: 2 ** 40, per_node: null, max_volumes: null, max_bytes: null, can_shrink: true, can_snapshot: true } },
    nodes, node: 'c', credentialed: true, now: NOW,
  };
}

const input = build();
if (process.env.DVM_BENCH_DEBUG) { const p = plan(input); const c: Record<string, number> = {}; for (const s of Object.values(p.datasets)) c[s.phase + " " + (s.reason ?? "").slice(0, 60)] = (c[s.phase + " " + (s.reason ?? "").slice(0, 60)] ?? 0) + 1; console.log(Object.entries(c).slice(0, 10)); }
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [who, credentialed] of [['c', true], ['n3', false]] as const) {
  const times: number[] = [];
  const cpu: number[] = [];
  let steps = 0;
  let waiting = 0;
  for (let r = 0; r < 7; r++) {
    const t = performance.now();
    const c = process.cpuUsage();
    const p = plan({ ...input, node: who, credentialed });
    times.push(performance.now() - t);
    const u = process.cpuUsage(c);
    cpu.push((u.user + u.system) / 1000);
    steps = p.steps.length;
    waiting = p.waiting_for.length;
  }
  console.log(`planner: one pass over ${N} datasets as ${who}${credentialed ? ' (credentialed)' : ''}: median ${median(times).toFixed(1)} ms of 7 (min ${Math.min(...times).toFixed(1)}; CPU median ${median(cpu).toFixed(1)} ms), ${steps} steps here, ${waiting} waiting_for`);
}
console.log(`planner: heap used ${(process.memoryUsage().heapUsed / MiB).toFixed(0)} MiB`);
