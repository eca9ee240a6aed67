// What `dataset list` and `dataset status` print, and when a dataset counts
// as converged for `status --wait`. Pure: documents in, text or JSON out.
import type { DatasetsDoc, DatasetStatus, DesiredDataset, NodeFence } from '../docs.js';
import { formatSize, sectors, SECTOR } from '../../lib/units.js';

export const human = (bytes: number) => formatSize(sectors(Math.ceil(bytes / SECTOR)));

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => rows.reduce((w, r) => Math.max(w, r[i].length), h.length));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

const byName = (doc: DatasetsDoc) => Object.entries(doc.datasets).sort(([, a], [, b]) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

export function listText(doc: DatasetsDoc): string {
  const rows = byName(doc).map(([, d]) => [d.name, human(d.size), d.filesystem, d.node ?? '-', d.mount ?? '(default)', flags(d)]);
  return table(['NAME', 'SIZE', 'FS', 'NODE', 'MOUNT', 'FLAGS'], rows);
}

function flags(d: DesiredDataset): string {
  const f: string[] = [];
  if (d.deleted) f.push('destroy');
  if (d.shrink_to !== undefined) f.push('shrink');
  if (d.volume !== undefined) f.push(`adopted:${d.volume}`);
  if (d.app !== undefined) f.push(`app:${d.app}`);
  return f.join(',') || '-';
}

export interface DatasetView {
  name: string;
  converged: boolean;
  /** What it waits for and why, in words; null when converged. */
  waiting: string | null;
  status: DatasetStatus | null;
}

/** Converged: an agent reported `converged` for the entry as it is now (not for an older version of it). */
export function viewOf(d: DesiredDataset, s: DatasetStatus | undefined): DatasetView {
  if (!s) {
    const who = d.node === null || d.deleted ? 'the credentialed agent' : `the agent of node '${d.node}' or the credentialed agent`;
    return { name: d.name, converged: false, waiting: `no status yet: waiting for ${who} to report (is it running?)`, status: null };
  }
  const fresh = s.desired_changed === d.changed;
  if (s.phase === 'converged' && fresh) return { name: d.name, converged: true, waiting: null, status: s };
  const why = s.reason ?? (s.phase === 'converged' ? 'converged before the last change' : `phase ${s.phase}`);
  const stale = fresh ? '' : ' (reported before the last change; the next pass updates it)';
  const err = s.error ? `; last error: ${s.error}` : '';
  return { name: d.name, converged: false, waiting: `${s.phase}: ${why}${stale}${err}`, status: s };
}

export function views(doc: DatasetsDoc, statuses: Record<string, DatasetStatus>): Record<string, DatasetView> {
  const out: Record<string, DatasetView> = {};
  for (const [id, d] of byName(doc)) out[id] = viewOf(d, statuses[id]);
  return out;
}

export function statusText(doc: DatasetsDoc, statuses: Record<string, DatasetStatus>): string {
  const v = views(doc, statuses);
  const rows = byName(doc).map(([id, d]) => {
    const x = v[id];
    const s = x.status;
    const where = s?.observed?.mounted ? `${s.observed.node ?? '?'}:${s.observed.mounted}${s.observed.read_only ? ' (ro)' : ''}` : (s?.observed?.node ?? '-');
    const phase = x.converged ? 'converged' : (s?.phase ?? 'unknown');
    return [d.name, d.node ?? '-', human(d.size), phase, where, s?.since ?? '-', x.converged ? '-' : x.waiting!];
  });
  return table(['NAME', 'NODE', 'SIZE', 'PHASE', 'WHERE', 'SINCE', 'WAITING FOR'], rows);
}

export function statusJson(doc: DatasetsDoc, statuses: Record<string, DatasetStatus>): unknown {
  return { format: 'dvm.dataset-statuses/1', cluster: doc.cluster, datasets: views(doc, statuses) };
}

/** One node as `dataset status` shows it: whether its agent lives, whether it holds the keys, what it holds. */
export interface NodeView {
  alive: boolean;
  credentialed: boolean;
  leader: boolean;
  /** Its lease (etcd): TTL and seconds left when read; null: the store has no leases, or it expired. */
  lease: { ttl: number; remaining: number } | null;
  /** When the node last wrote its state (an unchanged state is rewritten only every few minutes); null: never (a fenced node that never reported). */
  observed_at: string | null;
  /** An operator declared it gone (`dataset node fence`): when, by whom, why; null: not fenced. */
  fenced: { at: string; by: string; reason: string | null } | null;
  /** Its local devices of dataset volumes and volumes the listing shows attached to it. */
  holds: { volume: string; dataset: string | null; name: string | null; mounted: string | null; device: boolean }[];
}

export interface NodeInfo {
  state: { observed_at: string; devices: Record<string, { mount: { path: string } | null }> };
  alive: boolean;
  credentialed: boolean;
  leader: boolean;
}

export function nodeViews(
  doc: DatasetsDoc,
  listing: { volumes: { id: string; dataset: string | null; attached: string | null }[] } | null,
  nodes: Record<string, NodeInfo>,
  leases: Record<string, { ttl: number; remaining: number }>,
  fences: Record<string, NodeFence> = {},
): Record<string, NodeView> {
  const volumes = new Map((listing?.volumes ?? []).map((v) => [v.id, v]));
  const out: Record<string, NodeView> = {};
  const all: Record<string, NodeInfo | null> = { ...nodes };
  for (const n of Object.keys(fences)) all[n] ??= null; // fenced, never reported
  for (const [n, e] of Object.entries(all).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const f = fences[n];
    const fenced = f ? { at: f.at, by: f.by, reason: f.reason } : null;
    const holds: NodeView['holds'] = [];
    const who = (vid: string) => {
      const ds = volumes.get(vid)?.dataset ?? null;
      return { dataset: ds, name: ds !== null ? (doc.datasets[ds]?.name ?? null) : null };
    };
    const devices = e?.state.devices ?? {};
    for (const [vid, dev] of Object.entries(devices).sort(([a], [b]) => (a < b ? -1 : 1))) {
      holds.push({ volume: vid, ...who(vid), mounted: dev.mount?.path ?? null, device: true });
    }
    for (const v of volumes.values()) {
      if (v.attached === n && !(v.id in devices)) holds.push({ volume: v.id, ...who(v.id), mounted: null, device: false });
    }
    if (!e) {
      out[n] = { alive: false, credentialed: false, leader: false, lease: null, observed_at: null, fenced, holds };
      continue;
    }
    out[n] = { alive: e.alive, credentialed: e.credentialed, leader: e.leader, lease: e.alive ? (leases[n] ?? null) : null, observed_at: e.state.observed_at, fenced, holds };
  }
  return out;
}

const ago = (iso: string, now: Date) => {
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
};

export function nodesText(v: Record<string, NodeView>, now: Date): string {
  const rows = Object.entries(v).map(([n, x]) => {
    const alive = x.alive
      ? x.lease ? `alive (lease ${x.lease.ttl} s, ${x.lease.remaining} s left)` : 'alive (agent running)'
      : 'DEAD (agent not running, lease gone)';
    const f = x.fenced;
    const liveness = f ? `FENCED since ${f.at} by ${f.by}${f.reason ? ` (${f.reason})` : ''}; ${x.alive ? 'agent running' : 'agent not running'}` : alive;
    const keys = x.leader ? 'leader' : x.credentialed ? (x.alive ? 'standby' : 'credentialed') : '-';
    const holds = x.holds.map((h) => `${h.name ?? h.volume}${h.mounted ? `:${h.mounted}` : h.device ? ' (device, not mounted)' : ' (attached, no device)'}`).join(', ') || '-';
    const written = x.observed_at === null ? 'never' : `${x.observed_at} (${ago(x.observed_at, now)})`;
    return [n, liveness, keys, written, x.alive ? holds : `${holds === '-' ? '-' : `${holds} (last seen)`}`];
  });
  return table(['NODE', 'LIVENESS', 'KEYS', 'STATE WRITTEN', 'HOLDS'], rows);
}
