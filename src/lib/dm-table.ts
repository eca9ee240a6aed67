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
