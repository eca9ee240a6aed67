// The pure core: (envelope, dm state, options) -> text or a dvm.report/1 document.
// Field lists come from the row builders themselves, so they cannot drift.
import { usageError } from '../lib/errors.js';
import { chooseFields, DM_FIELDS, type Kind } from './fields.js';
import { lvRows, pvRows, segRows, vgRows, type Row } from './rows.js';
import { renderTable } from './render.js';
import type { DmState, Envelope } from './model.js';

export interface ReportOptions {
  kind: Kind;
  fields?: string;
  units: string;
  all: boolean;
  headings: boolean;
  separator?: string;
}

export function rowsFor(env: Envelope, dm: DmState | null, o: ReportOptions): Row[] {
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

export function textReport(env: Envelope, dm: DmState | null, o: ReportOptions): string {
  const fields = selectFields(o, dm !== null);
  return renderTable(rowsFor(env, dm, o), fields, { units: o.units, extentSize: env.vg.extent_size, headings: o.headings, separator: o.separator });
}

export function jsonReport(env: Envelope, dm: DmState | null, o: ReportOptions) {
  const fields = selectFields(o, dm !== null);
  const rows = rowsFor(env, dm, o).map((r) => Object.fromEntries(fields.map((f) => [f, r[f] ?? null])));
  return { format: 'dvm.report/1', vg: env.vg.name, kind: o.kind, units: 'sectors', rows };
}

