// The planner's view of a scope: devices keyed by dm uuid, tables whose
// references to other devices of the scope are uuids, not numbers or names.
// A desired `dm:<name>` and a live `253:4` compare equal when they name the
// same device, whatever its name or number will be when the program runs.
import { invalidInput } from '../lib/errors.js';
import { DM_REF_PREFIX, tableProblem, type TableLine } from '../lib/dm-table.js';
import { inScope, type DmDoc } from '../lib/dm-doc.js';

/** A word of a params string: literal text, or a reference to a device by uuid. */
export type Tok = string | { ref: string };

/** A table line (src/lib/dm-table.ts) whose params are words and references. */
export type NLine = Omit<TableLine, 'params'> & { params: Tok[] };

export interface NTable {
  lines: NLine[];
  ro: boolean;
}

export interface MDev {
  uuid: string;
  name: string;
  /** "major:minor", known for devices that existed when planning began */
  dev: string | null;
  /** live table; null when the device has none */
  live: NTable | null;
  inactive: NTable | null;
  suspended: boolean;
}

/** Devices in a stable order (the query's order; creations appended). */
export type Model = MDev[];

export interface Want {
  uuid: string;
  name: string;
  table: NTable;
}

const DEV_RE = /^\d+:\d+$/;
const words = (params: string): string[] => (params === '' ? [] : params.split(' ').filter((w) => w !== ''));

/** The current state of the scope: devices outside it are dropped here and never seen again. */
export function modelOf(current: DmDoc, scope: string): Model {
  const mine = current.devices.filter((d) => inScope(d.uuid, scope));
  const byDev = new Map<string, string>();
  for (const d of mine) if (d.major !== undefined && d.minor !== undefined) byDev.set(`${d.major}:${d.minor}`, d.uuid);
  const norm = (lines: TableLine[] | null | undefined, ro: boolean): NTable | null =>
    lines && lines.length
      ? { ro, lines: lines.map((l) => ({ start: l.start, length: l.length, target: l.target, params: words(l.params).map((w) => (DEV_RE.test(w) && byDev.has(w) ? { ref: byDev.get(w)! } : w)) })) }
      : null;
  return mine.map((d) => ({
    uuid: d.uuid,
    name: d.name,
    dev: d.major !== undefined && d.minor !== undefined ? `${d.major}:${d.minor}` : null,
    live: norm(d.table, d.read_only ?? false),
    // The query cannot tell an inactive table's read-only flag; a staged table
    // is only reused when it also matches, so assume it was staged as wanted.
    inactive: norm(d.inactive_table, d.read_only ?? false),
    suspended: d.suspended ?? false,
  }));
}

/** The desired state, checked: every device in scope, names and uuids unique, references resolvable. */
export function wantOf(desired: DmDoc, model: Model): Want[] {
  const scope = desired.scope;
  const byName = new Map<string, string>();
  const uuids = new Set<string>();
  for (const d of desired.devices) {
    if (!inScope(d.uuid, scope)) throw invalidInput('device outside scope', d.name, `uuid '${d.uuid}' is not in scope '${scope}'`);
    if (byName.has(d.name)) throw invalidInput('duplicate device name', d.name);
    if (uuids.has(d.uuid)) throw invalidInput('duplicate device uuid', d.uuid);
    const problem = tableProblem(d.table as never);
    if (problem) throw invalidInput('invalid table', d.name, problem);
    byName.set(d.name, d.uuid);
    uuids.add(d.uuid);
  }
  const byDev = new Map(model.filter((m) => m.dev !== null).map((m) => [m.dev!, m.uuid]));
  const tok = (w: string, owner: string): Tok => {
    if (w.startsWith(DM_REF_PREFIX)) {
      const u = byName.get(w.slice(DM_REF_PREFIX.length));
      if (!u) throw invalidInput('unresolved device reference', owner, `'${w}' is not a device of the desired state`);
      return { ref: u };
    }
    const u = DEV_RE.test(w) ? byDev.get(w) : undefined;
    if (u === undefined) return w;
    if (!uuids.has(u)) throw invalidInput('device reference', owner, `'${w}' is a device of the scope that the desired state drops`);
    return { ref: u };
  };
  return desired.devices.map((d) => ({
    uuid: d.uuid,
    name: d.name,
    table: { ro: d.read_only ?? false, lines: d.table.map((l) => ({ start: l.start, length: l.length, target: l.target, params: words(l.params).map((w) => tok(w, d.name)) })) },
  }));
}

const tokEq = (a: Tok, b: Tok) => (typeof a === 'string' ? a === b : typeof b !== 'string' && a.ref === b.ref);
export const lineEq = (a: NLine, b: NLine) =>
  a.start === b.start && a.length === b.length && a.target === b.target && a.params.length === b.params.length && a.params.every((t, i) => tokEq(t, b.params[i]));
export function tableEq(a: NTable | null, b: NTable | null): boolean {
  if (a === null || b === null) return a === b;
  return a.ro === b.ro && a.lines.length === b.lines.length && a.lines.every((l, i) => lineEq(l, b.lines[i]));
}

export const tableSize = (t: NTable | null) => (t ? t.lines.reduce((n, l) => n + l.length, 0) : 0);
export const refsOf = (t: NTable | null): string[] => (t ? t.lines.flatMap((l) => l.params.flatMap((p) => (typeof p === 'string' ? [] : [p.ref]))) : []);

/**
 * The new table only adds sectors at the end and maps the old ones exactly as
 * before (every old line kept, the last one possibly longer): what lv-extend
 * does. Making it live early changes nothing its users can see.
 */
export function appendOnly(old: NTable, next: NTable): boolean {
  if (old.ro !== next.ro || old.lines.length === 0 || next.lines.length < old.lines.length || tableSize(next) <= tableSize(old)) return false;
  const k = old.lines.length - 1;
  if (!old.lines.slice(0, k).every((l, i) => lineEq(l, next.lines[i]))) return false;
  const a = old.lines[k];
  const b = next.lines[k];
  return lineEq({ ...a, length: b.length }, b) && b.length >= a.length;
}

/**
 * Tables as dmexec takes them: references to devices that exist with a known
 * number as numbers, others as `dm:<name>`. `byName` (optional) finds a
 * device by uuid without a scan; `asName` forces `dm:<name>` for devices a
 * rollback may have re-created (their number then changes).
 */
export function render(t: NTable, model: Model, byUuid?: Map<string, MDev>, asName?: Set<string>): TableLine[] {
  return t.lines.map((l) => ({
    start: l.start,
    length: l.length,
    target: l.target,
    params: l.params
      .map((p) => {
        if (typeof p === 'string') return p;
        const d = byUuid ? byUuid.get(p.ref) : model.find((m) => m.uuid === p.ref);
        if (!d) throw new Error(`internal: reference to absent device ${p.ref}`);
        return (asName?.has(d.uuid) ? null : d.dev) ?? `${DM_REF_PREFIX}${d.name}`;
      })
      .join(' '),
  }));
}

/** Devices are updated in place as steps are emitted; tables never are (a load assigns another), so copies share them. */
export const cloneModel = (m: Model): Model => m.map((d) => ({ ...d }));
