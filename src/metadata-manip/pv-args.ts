import { failed, usageError } from '../lib/errors.js';
import type { PvRestriction, Range } from './free-space.js';
import type { Vg } from './model.js';

/**
 * `--pv` values: a PV id, optionally followed by PE ranges as LVM takes them
 * (`ID:0-99`, `ID:100-` to the end, `ID:7` one extent; several `:` parts add up).
 */
export function parsePvArgs(vg: Vg, args: readonly string[] | undefined, what: string): PvRestriction[] | undefined {
  if (!args || args.length === 0) return undefined;
  return args.map((arg) => {
    const [id, ...parts] = arg.split(':');
    const pv = vg.pvs.find((p) => p.id === id);
    if (!pv) throw failed(what, arg, `no such physical volume in volume group '${vg.name}'`);
    if (parts.length === 0) return { pv: id };
    const ranges: Range[] = parts.map((part) => {
      const m = /^(\d+)(?:(-)(\d*))?$/.exec(part);
      if (!m) throw usageError('invalid PV range', arg, 'expected ID:FIRST-LAST, ID:FIRST- or ID:PE');
      const first = Number(m[1]);
      const last = m[2] ? (m[3] === '' ? pv.pe_count - 1 : Number(m[3])) : first;
      if (last < first) throw usageError('invalid PV range', arg, `${first}-${last} is empty`);
      return { start: first, count: last - first + 1 };
    });
    return { pv: id, ranges };
  });
}
