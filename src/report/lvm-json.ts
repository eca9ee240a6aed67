// `report --reportformat json|json_std`: the document `lvs --reportformat
// json` prints, in its exact layout, so scripts written for LVM read ours.
//   json      every value a string, as the table cell shows it ("8.00m", "1")
//   json_std  numbers as JSON numbers (counts always; sizes with --nosuffix),
//             an empty numeric value as null (LVM 2.03.17+ calls this json_std)
import { FIELDS, type Kind } from './fields.js';
import { cell } from './render.js';
import type { Row } from './rows.js';

export type LvmFormat = 'json' | 'json_std';

const KEY: Record<Kind, string> = { lvs: 'lv', pvs: 'pv', vgs: 'vg', segments: 'seg' };

export interface LvmJsonOptions {
  format: LvmFormat;
  units: string;
  suffix: boolean;
  extentSize: number;
}

/** One value as LVM prints it in that format. */
export function lvmValue(field: string, v: Row[string], o: LvmJsonOptions): string | number | null {
  let text = cell(field, v, o.units, o.extentSize, o.suffix);
  // LVM prints sectors with a capital S.
  if (FIELDS[field]?.size && typeof v === 'number' && /^\d+s$/.test(text)) text = text.slice(0, -1) + 'S';
  if (o.format === 'json') return text;
  const numeric = typeof v === 'number' && (!FIELDS[field]?.size || !o.suffix);
  if (numeric) return Number(text);
  if (v === null && (FIELDS[field]?.size || field.endsWith('_count') || field === 'copy_percent' || field === 'data_percent')) return null;
  return text;
}

const quote = (s: string | number | null) => (typeof s === 'string' ? JSON.stringify(s) : String(s));

/** The whole document, byte for byte in LVM's layout (two-space margin, four per level). */
export function lvmJson(kind: Kind, rows: Row[], fields: string[], o: LvmJsonOptions): string {
  const lines = rows.map((r) => '                  {' + fields.map((f) => `${JSON.stringify(f)}:${quote(lvmValue(f, r[f] ?? null, o))}`).join(', ') + '}');
  return [
    '  {',
    '      "report": [',
    '          {',
    `              "${KEY[kind]}": [`,
    ...(lines.length ? [lines.join(',\n')] : []),
    '              ]',
    '          }',
    '      ]',
    '  }',
    '',
  ].join('\n');
}
