import type { Sectors } from './units.js';

/**
 * One line of a device-mapper table, as the kernel takes it and as
 * the kernel reports it (TABLE_STATUS): `<start> <length> <target> <params>`.
 * The one type for it, in dvm.dm/1 and dvm.dmexec/1 documents and inside
 * every tool. Parsing a printed table gives back the same value (round trip).
 */
export interface TableLine {
  start: Sectors;
  length: Sectors;
  target: string;
  params: string;
}

/** A line from plain numbers (sector arithmetic on extents, test tables). */
export const tableLine = (start: number, length: number, target: string, params = ''): TableLine => ({ start: start as Sectors, length: length as Sectors, target, params });

export const TARGET_RE = /^[a-z0-9_-]{1,15}$/;

export function formatLine(l: TableLine): string {
  return l.params === '' ? `${l.start} ${l.length} ${l.target}` : `${l.start} ${l.length} ${l.target} ${l.params}`;
}

export function formatTable(lines: readonly TableLine[]): string {
  return lines.map((l) => formatLine(l) + '\n').join('');
}

export function parseLine(text: string): TableLine {
  const m = /^(\d+) (\d+) ([a-z0-9_-]{1,15})(?: (.*))?$/.exec(text);
  if (!m) throw new Error(`not a table line: ${JSON.stringify(text)}`);
  return { start: Number(m[1]) as Sectors, length: Number(m[2]) as Sectors, target: m[3], params: m[4] ?? '' };
}

export function parseTable(text: string): TableLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(parseLine);
}

/** Total length of a table: the device size in sectors. */
export function tableSize(lines: readonly TableLine[]): Sectors {
  return lines.reduce((a, l) => a + l.length, 0) as Sectors;
}

/**
 * A table the kernel would accept as one device: lines start at 0 and follow
 * each other without gaps or overlaps. Returns the problem, or null.
 */
export function tableProblem(lines: readonly TableLine[]): string | null {
  if (lines.length === 0) return 'empty table';
  let next = 0;
  for (const [i, l] of lines.entries()) {
    if (!Number.isSafeInteger(l.start) || !Number.isSafeInteger(l.length) || l.length <= 0) return `line ${i} has an invalid start or length`;
    if (l.start < next) return `line ${i} overlaps the previous one (starts at ${l.start}, expected ${next})`;
    if (l.start > next) return `gap before line ${i} (starts at ${l.start}, expected ${next})`;
    if (!TARGET_RE.test(l.target)) return `line ${i} has an invalid target '${l.target}'`;
    next = l.start + l.length;
    if (!Number.isSafeInteger(next)) return `line ${i} ends beyond 2^53 sectors`;
  }
  return null;
}

/** Tables are equal when every line prints the same. */
export function tablesEqual(a: readonly TableLine[], b: readonly TableLine[]): boolean {
  return a.length === b.length && a.every((l, i) => formatLine(l) === formatLine(b[i]));
}

/** Words of the form `dm:<name>` name another dm device whose number is resolved late. */
export const DM_REF_PREFIX = 'dm:';

// ---- snapshot targets (Documentation/admin-guide/device-mapper/snapshot.rst) ----
// Typed params for the three targets of a classic (COW) snapshot stack, written
// exactly as the kernel prints them back (snapshot_status, STATUSTYPE_TABLE):
// devices as given (dvm writes `dm:<name>` or `major:minor`), the store type,
// the chunk size in sectors, then optional features.

/** `snapshot-origin <origin>`: the origin LV's top device, over its hidden `-real` device. */
export interface SnapshotOriginParams {
  origin: string;
}

/** The COW store: persistent (P), persistent with overflow support (PO), or transient (N). */
export type SnapshotStore = 'P' | 'PO' | 'N';
const STORES: readonly string[] = ['P', 'PO', 'N'];
const SNAPSHOT_FEATURES: readonly string[] = ['discard_zeroes_cow', 'discard_passdown_origin'];

/** `snapshot` and `snapshot-merge`: `<origin> <cow> P|PO|N <chunk_sectors> [<#features> <feature>...]`. */
export interface SnapshotParams {
  origin: string;
  cow: string;
  store: SnapshotStore;
  /** chunk size in sectors: a power of two */
  chunk: number;
  features: string[];
}

export const formatSnapshotOrigin = (p: SnapshotOriginParams): string => p.origin;

export function parseSnapshotOrigin(params: string): SnapshotOriginParams {
  if (!/^\S+$/.test(params)) throw new Error(`not snapshot-origin params: ${JSON.stringify(params)}`);
  return { origin: params };
}

export function formatSnapshot(p: SnapshotParams): string {
  const base = `${p.origin} ${p.cow} ${p.store} ${p.chunk}`;
  return p.features.length ? `${base} ${p.features.length} ${p.features.join(' ')}` : base;
}

export function parseSnapshot(params: string): SnapshotParams {
  const bad = (why: string) => new Error(`not snapshot params (${why}): ${JSON.stringify(params)}`);
  const w = params.split(' ');
  if (w.length < 4 || w.some((x) => x === '')) throw bad('expected <origin> <cow> <store> <chunk>');
  const [origin, cow, store, chunkText, countText, ...features] = w;
  if (!STORES.includes(store)) throw bad(`store '${store}'`);
  if (!/^[1-9]\d*$/.test(chunkText)) throw bad(`chunk '${chunkText}'`);
  const chunk = Number(chunkText);
  if ((chunk & (chunk - 1)) !== 0) throw bad('chunk not a power of two');
  if (countText === undefined) return { origin, cow, store: store as SnapshotStore, chunk, features: [] };
  if (!/^[1-9]\d*$/.test(countText) || Number(countText) !== features.length) throw bad('feature count');
  if (features.some((f) => !SNAPSHOT_FEATURES.includes(f))) throw bad('unknown feature');
  return { origin, cow, store: store as SnapshotStore, chunk, features };
}

/**
 * What a `snapshot` (or `snapshot-merge`) target reports (STATUSTYPE_INFO):
 * `<allocated>/<total> <metadata>` in sectors, or that it is Invalid (it
 * overflowed or hit an I/O error), Overflow (a PO store ran out of room), or
 * Merge failed. lvs computes Data% as allocated/total.
 */
export type SnapshotStatus =
  | { state: 'valid'; allocated: number; total: number; metadata: number }
  | { state: 'invalid' | 'overflow' | 'merge_failed' | 'unknown' };

export function parseSnapshotStatus(text: string): SnapshotStatus {
  const t = text.trim();
  const m = /^(\d+)\/(\d+) (\d+)$/.exec(t);
  if (m) return { state: 'valid', allocated: Number(m[1]), total: Number(m[2]), metadata: Number(m[3]) };
  if (t === 'Invalid') return { state: 'invalid' };
  if (t === 'Overflow') return { state: 'overflow' };
  if (t === 'Merge failed') return { state: 'merge_failed' };
  return { state: 'unknown' };
}

/** A merge is done when only the metadata chunks are left allocated (lvm2's _snap_target_percent). */
export const mergeDone = (s: SnapshotStatus): boolean => s.state === 'valid' && s.allocated === s.metadata;
