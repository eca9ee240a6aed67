// What `dataset list` and `dataset status` print, and when a dataset counts
// as converged for `status --wait`. Pure: documents in, text or JSON out.
import type { DatasetsDoc, DatasetStatus, DesiredDataset } from '../docs.js';
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
