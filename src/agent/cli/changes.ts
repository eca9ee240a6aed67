// The operator's changes to the desired state, as pure functions of the
// current document (applied by the store under its lock, so two commands
// never lose each other's change). A refusal throws StoreConflict (exit 1)
// and changes nothing.
import { randomUUID } from 'node:crypto';
import type { DatasetsDoc, DesiredDataset, Filesystem, VolumesDoc } from '../docs.js';
import { mountClash } from '../desired-check.js';
import { StoreConflict } from '../store/types.js';

export function findByName(doc: DatasetsDoc, name: string): [string, DesiredDataset] | null {
  for (const [id, d] of Object.entries(doc.datasets)) if (d.name === name) return [id, d];
  return null;
}

function mustFind(doc: DatasetsDoc, name: string): [string, DesiredDataset] {
  const found = findByName(doc, name);
  if (!found) throw new StoreConflict(`dataset '${name}': no such dataset ('dataset list' names them)`);
  if (found[1].deleted) throw new StoreConflict(`dataset '${name}': is being destroyed`);
  return found;
}

/**
 * `changed` strictly increases per entry, even within one millisecond:
 * `dataset status --wait` compares it with the status' `desired_changed`.
 */
export function nextChanged(now: Date, previous?: string): string {
  let t = now.getTime();
  if (previous) t = Math.max(t, Date.parse(previous) + 1);
  return new Date(t).toISOString();
}

function put(doc: DatasetsDoc, id: string, entry: DesiredDataset): DatasetsDoc {
  return { ...doc, datasets: { ...doc.datasets, [id]: entry } };
}

function checkMount(doc: DatasetsDoc, mount: string | null, exceptId?: string): void {
  if (mount === null) return;
  const clash = mountClash(doc, mount, exceptId);
  if (clash) throw new StoreConflict(`mount point ${clash}`);
}

export interface CreateArgs {
  name: string;
  size: number;
  filesystem: Filesystem;
  node: string | null;
  mount: string | null;
  meta: Record<string, string>;
  /** The name of an application defined on the nodes (APPS_DIR/APP.json). */
  app?: string;
  /** One partition on the volume, the filesystem in it. */
  partition?: boolean;
}

export function create(doc: DatasetsDoc, a: CreateArgs, now: Date, id: string = randomUUID()): DatasetsDoc {
  if (findByName(doc, a.name)) throw new StoreConflict(`dataset '${a.name}': exists; choose another name ('dataset list' names them)`);
  checkMount(doc, a.mount);
  const entry: DesiredDataset = { name: a.name, size: a.size, filesystem: a.filesystem, node: a.node, mount: a.mount, deleted: false, changed: nextChanged(now) };
  if (Object.keys(a.meta).length) entry.meta = a.meta;
  if (a.app !== undefined) entry.app = a.app;
  if (a.partition) entry.partition = true;
  return put(doc, id, entry);
}

export interface AdoptArgs {
  name: string;
  volume: string;
  filesystem: Filesystem;
  node: string | null;
  mount: string | null;
  app?: string;
  partition?: boolean;
}

/** Adopt an existing volume: its size is the volume's, as the credentialed node last listed it. */
export function adopt(doc: DatasetsDoc, listing: VolumesDoc | null, a: AdoptArgs, now: Date, id: string = randomUUID()): DatasetsDoc {
  if (findByName(doc, a.name)) throw new StoreConflict(`dataset '${a.name}': exists; choose another name ('dataset list' names them)`);
  for (const d of Object.values(doc.datasets)) if (d.volume === a.volume) throw new StoreConflict(`volume '${a.volume}': already adopted by dataset '${d.name}'`);
  if (!listing) throw new StoreConflict(`volume '${a.volume}': no backend listing in the store yet (is the credentialed agent running?)`);
  const v = listing.volumes.find((x) => x.id === a.volume);
  if (!v) throw new StoreConflict(`volume '${a.volume}': not in the backend listing of ${listing.listed_at} ('dataset-volumes' lists what the backend holds)`);
  if (v.dataset !== null) {
    const owner = doc.datasets[v.dataset];
    throw new StoreConflict(`volume '${a.volume}': belongs to dataset ${owner ? `'${owner.name}'` : v.dataset}`);
  }
  checkMount(doc, a.mount);
  const entry: DesiredDataset = { name: a.name, size: v.size, filesystem: a.filesystem, node: a.node, mount: a.mount, deleted: false, volume: a.volume, changed: nextChanged(now) };
  if (a.app !== undefined) entry.app = a.app;
  if (a.partition) entry.partition = true;
  return put(doc, id, entry);
}

/** To `size` bytes, or by it when `relative`. Never smaller: that is `shrink`. Clears a pending shrink. */
export function grow(doc: DatasetsDoc, name: string, size: number, relative: boolean, now: Date): DatasetsDoc {
  const [id, d] = mustFind(doc, name);
  const target = relative ? d.size + size : size;
  if (target < d.size) throw new StoreConflict(`dataset '${name}': ${target} bytes is smaller than its size ${d.size}; shrinking is only 'dataset shrink'`);
  if (target === d.size && d.shrink_to === undefined) return doc;
  const { shrink_to: _dropped, ...rest } = d;
  return put(doc, id, { ...rest, size: target, changed: nextChanged(now, d.changed) });
}

/** The only way a dataset ever shrinks: offline, ext4 only. */
export function shrink(doc: DatasetsDoc, name: string, size: number, now: Date): DatasetsDoc {
  const [id, d] = mustFind(doc, name);
  if (d.filesystem !== 'ext4') throw new StoreConflict(`dataset '${name}': ${d.filesystem} cannot shrink (ext4 only)`);
  if (size >= d.size) throw new StoreConflict(`dataset '${name}': ${size} bytes is not smaller than its size ${d.size}; growing is 'dataset grow'`);
  return put(doc, id, { ...d, size, shrink_to: size, changed: nextChanged(now, d.changed) });
}

export function move(doc: DatasetsDoc, name: string, to: string, now: Date): DatasetsDoc {
  const [id, d] = mustFind(doc, name);
  if (d.node === to) return doc;
  return put(doc, id, { ...d, node: to, changed: nextChanged(now, d.changed) });
}

export function detach(doc: DatasetsDoc, name: string, now: Date): DatasetsDoc {
  const [id, d] = mustFind(doc, name);
  if (d.node === null) return doc;
  return put(doc, id, { ...d, node: null, changed: nextChanged(now, d.changed) });
}

export function destroy(doc: DatasetsDoc, name: string, now: Date): DatasetsDoc {
  const found = findByName(doc, name);
  if (!found) throw new StoreConflict(`dataset '${name}': no such dataset ('dataset list' names them)`);
  const [id, d] = found;
  if (d.deleted) return doc; // a repeat of a requested destroy is success
  if (d.app !== undefined) throw new StoreConflict(`dataset '${name}': bound to application '${d.app}'; unbind it first`);
  return put(doc, id, { ...d, deleted: true, changed: nextChanged(now, d.changed) });
}

/**
 * The datasets a change touched, each with where it should end up: what
 * `map --wait` follows (a unit left out converges attached nowhere).
 */
export function touchedBy(before: DatasetsDoc, after: DatasetsDoc): { id: string; name: string; goal: { kind: 'converged'; node?: string } }[] {
  const out: { id: string; name: string; goal: { kind: 'converged'; node?: string } }[] = [];
  for (const [id, d] of Object.entries(after.datasets).sort(([, x], [, y]) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))) {
    const old = before.datasets[id];
    if (old && JSON.stringify(old) === JSON.stringify(d)) continue;
    out.push({ id, name: d.name, goal: d.node === null ? { kind: 'converged' } : { kind: 'converged', node: d.node } });
  }
  return out;
}
