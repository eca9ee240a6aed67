// The pure core: (envelope, dm state, options) -> text or a dvm.report/1 document.
// Field lists come from the row builders themselves, so they cannot drift.
import { usageError } from '../lib/errors.js';
import { chooseFields, DM_FIELDS, type Kind } from './fields.js';
import { lvRows, pvRows, segRows, vgRows, type Row } from './rows.js';
import { renderTable } from './render.js';
import type { DmDoc, Envelope } from './model.js';
import { parseSelection, parseSort, select, sortRows } from './select.js';
import { lvmJson, type LvmFormat } from './lvm-json.js';

export interface ReportOptions {
  kind: Kind;
  fields?: string;
  units: string;
  all: boolean;
  headings: boolean;
  separator?: string;
  /** -S: LVM's selection syntax */
  select?: string;
  /** -O: fields, `-field` descending */
  sort?: string;
  /** false: sizes without their unit letter (--nosuffix) */
  suffix?: boolean;
}

/** Fields of one segment: lvs given any of them prints one row per segment. */
const SEGMENT_FIELDS = new Set(['devices', 'seg_start', 'seg_size', 'segtype', 'stripes', 'stripe_size', 'region_size', 'seg_pe_ranges']);

/**
 * `perSegment`: LVM's rule for lvs — asked for a segment field (devices, …), it
 * prints one row per segment, the LV's fields repeated. dvm's own table and
 * dvm.report/1 keep one row per LV (devices of all segments joined).
 */
export function rowsFor(env: Envelope, dm: DmDoc | null, o: ReportOptions, perSegment = false): Row[] {
  let rows = allRows(env, dm, o);
  if (perSegment) {
    const byName = new Map(rows.map((r) => [r.lv_name, r]));
    rows = segRows(env, { all: o.all })
      .filter((s) => byName.has(s.lv_name))
      .map((s) => ({ ...byName.get(s.lv_name), ...s }));
  }
  const { select: sel, sort } = o;
  if (sel !== undefined) rows = select(rows, usage('invalid selection', sel, () => parseSelection(o.kind, sel, KNOWN[o.kind])));
  if (sort !== undefined) rows = sortRows(rows, usage('invalid sort', sort, () => parseSort(o.kind, sort, KNOWN[o.kind])));
  return rows;
}

function usage<T>(what: string, text: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw usageError(what, text, (e as Error).message);
  }
}

function allRows(env: Envelope, dm: DmDoc | null, o: ReportOptions): Row[] {
  switch (o.kind) {
    case 'lvs':
      return lvRows(env, dm, { all: o.all });
    case 'pvs':
      return pvRows(env);
    case 'vgs':
      return vgRows(env);
    case 'segments':
      return segRows(env, { all: o.all });
  }
}

const KNOWN: Record<Kind, string[]> = {
  lvs: Object.keys(lvRows(emptyEnvelope(true), null, { all: true })[0]),
  pvs: Object.keys(pvRows(emptyEnvelope(true))[0]),
  vgs: Object.keys(vgRows(emptyEnvelope(true))[0]),
  segments: Object.keys(segRows(emptyEnvelope(true), { all: true })[0]),
};

function emptyEnvelope(withOne: boolean): Envelope {
  const pv = { id: 'x', size: 0, pe_start: 0, pe_count: 0, flags: [] };
  const lv = { id: 'y', name: 'y', flags: [], segments: [{ start_extent: 0, extent_count: 1, type: 'linear' as const, areas: [{ pv: 'x', pe: 0 }] }] };
  return { format: 'dvm.envelope/1', vg: { format: 'dvm.vg/1', name: 'v', id: 'z', seqno: 1, extent_size: 8, pvs: withOne ? [pv] : [], lvs: withOne ? [lv] : [] }, devices: {}, missing: [] };
}

export function selectFields(o: ReportOptions, dm: boolean): string[] {
  try {
    const chosen = chooseFields(o.kind, o.fields, KNOWN[o.kind]);
    return dm && o.kind === 'lvs' && !o.fields ? [...chosen, ...DM_FIELDS] : chosen;
  } catch (e) {
    throw usageError('unknown field', (e as Error).message, `for ${o.kind}, one of: ${KNOWN[o.kind].join(', ')}`);
  }
}

export function textReport(env: Envelope, dm: DmDoc | null, o: ReportOptions): string {
  const fields = selectFields(o, dm !== null);
  return renderTable(rowsFor(env, dm, o), fields, { units: o.units, extentSize: env.vg.extent_size, headings: o.headings, separator: o.separator, suffix: o.suffix });
}

/** What `lvs --reportformat json` (or json_std) prints, for the same fields. */
export function lvmJsonReport(env: Envelope, dm: DmDoc | null, o: ReportOptions, format: LvmFormat): string {
  const fields = selectFields(o, dm !== null);
  const perSegment = o.kind === 'lvs' && fields.some((f) => SEGMENT_FIELDS.has(f));
  return lvmJson(o.kind, rowsFor(env, dm, o, perSegment), fields, { format, units: o.units, suffix: o.suffix ?? true, extentSize: env.vg.extent_size });
}

export function jsonReport(env: Envelope, dm: DmDoc | null, o: ReportOptions) {
  const fields = selectFields(o, dm !== null);
  const rows = rowsFor(env, dm, o).map((r) => Object.fromEntries(fields.map((f) => [f, r[f] ?? null])));
  return { format: 'dvm.report/1', vg: env.vg.name, kind: o.kind, units: 'sectors', rows };
}

