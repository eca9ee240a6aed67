// `-S/--select` and `-O/--sort` for report, in LVM's syntax for the common
// cases: conditions `field OP value` with OP one of = != =~ !~ < <= > >=,
// joined by && (or ,) and || (or #), && binding tighter; `!` negates one
// condition. Sizes compare as sizes (`lv_size>=1g`; a bare number is MiB, as
// for lvcreate -L). `-O a,-b` sorts by a, then by b descending.
import { parseSize } from '../lib/units.js';
import { FIELDS, resolveField, type Kind } from './fields.js';
import type { Row, Value } from './rows.js';

type Op = '=' | '!=' | '=~' | '!~' | '<' | '<=' | '>' | '>=';
interface Cond {
  field: string;
  op: Op;
  value: string;
  not: boolean;
}
export type Selection = Cond[][]; // OR of ANDs

const COND = /^(!?)\s*([A-Za-z_]+)\s*(=~|!~|!=|<=|>=|=|<|>)\s*(.*)$/;

/** Parses a selection; throws an Error whose message names what is wrong. */
export function parseSelection(kind: Kind, text: string, available: string[]): Selection {
  const ors = text.split(/\|\||#/);
  return ors.map((or) =>
    or.split(/&&|,/).map((c) => {
      const m = COND.exec(c.trim());
      if (!m) throw new Error(`'${c.trim()}' is not 'field OP value'`);
      let field: string;
      try {
        field = resolveField(kind, m[2], available);
      } catch {
        throw new Error(`unknown field '${m[2]}'`);
      }
      let value = m[4].trim();
      if (/^(['"]).*\1$/.test(value)) value = value.slice(1, -1);
      const op = m[3] as Op;
      if ((op === '=~' || op === '!~') && !safeRegex(value)) throw new Error(`invalid regular expression '${value}'`);
      if (['<', '<=', '>', '>='].includes(op) && toNumber(field, value) === null) throw new Error(`'${value}' is not a number or size for ${field}`);
      return { field, op, value, not: m[1] === '!' };
    }),
  );
}

function safeRegex(s: string): boolean {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}

/** A comparison operand for FIELD: sectors for sizes, a number for counts; null when it is neither. */
function toNumber(field: string, text: string): number | null {
  if (FIELDS[field]?.size) {
    try {
      const s = parseSize(text, 'm', { allowSign: false });
      return s.kind === 'sectors' ? Number(s.value) : null;
    } catch {
      return null;
    }
  }
  return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : null;
}

const asText = (v: Value) => (v === null ? '' : Array.isArray(v) ? v.join(',') : String(v));

function holds(c: Cond, r: Row): boolean {
  const v = r[c.field] ?? null;
  let ok: boolean;
  switch (c.op) {
    case '=~':
    case '!~':
      ok = new RegExp(c.value).test(asText(v)) === (c.op === '=~');
      break;
    case '=':
    case '!=': {
      const n = typeof v === 'number' ? toNumber(c.field, c.value) : null;
      // A list field (lv_tags) against one item: LVM matches lists holding it.
      const eq = n !== null ? v === n : Array.isArray(v) ? v.includes(c.value) : asText(v) === c.value;
      ok = eq === (c.op === '=');
      break;
    }
    default: {
      const n = toNumber(c.field, c.value)!;
      if (typeof v !== 'number') ok = false;
      else ok = c.op === '<' ? v < n : c.op === '<=' ? v <= n : c.op === '>' ? v > n : v >= n;
    }
  }
  return c.not ? !ok : ok;
}

export function select(rows: Row[], s: Selection): Row[] {
  return rows.filter((r) => s.some((and) => and.every((c) => holds(c, r))));
}

export interface SortKey {
  field: string;
  desc: boolean;
}

export function parseSort(kind: Kind, text: string, available: string[]): SortKey[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const desc = s.startsWith('-');
      const name = s.replace(/^[+-]/, '');
      try {
        return { field: resolveField(kind, name, available), desc };
      } catch {
        throw new Error(`unknown field '${name}'`);
      }
    });
}

function compare(a: Value, b: Value): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = asText(a);
  const y = asText(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A stable sort by the keys in order. */
export function sortRows(rows: Row[], keys: SortKey[]): Row[] {
  return rows
    .map((r, i) => ({ r, i }))
    .sort((p, q) => {
      for (const k of keys) {
        const c = compare(p.r[k.field] ?? null, q.r[k.field] ?? null);
        if (c) return k.desc ? -c : c;
      }
      return p.i - q.i;
    })
    .map((x) => x.r);
}
