import { failed, usageError } from '../lib/errors.js';
import { formatSize, parseSize, sectors, type SizeSpec } from '../lib/units.js';

/** What percentages are of, in extents. */
export interface SizeBases {
  FREE: number;
  VG: number;
  PVS: number;
}

export interface Extents {
  sign: '' | '+' | '-';
  extents: number;
  /** A percentage: take what there is, up to this, as LVM's approximate allocation. */
  approx: boolean;
}

/**
 * A size argument in extents. Byte sizes round up to whole extents and say so
 * on `notes` (LVM prints "Rounding up size to full physical extent").
 */
/** Usage before feasibility: a size of the wrong sign is refused before the VG is looked at. */
export function checkSign(text: string, allowed: ('' | '+' | '-')[]): void {
  const spec = parseSize(text);
  if (!allowed.includes(spec.sign)) {
    const want = allowed.filter((s) => s !== '').map((s) => `'${s}'`);
    throw usageError('invalid size', text, spec.sign ? `no '${spec.sign}' here${want.length ? ` (only ${want.join(' or ')})` : ''}` : 'a signed size is needed here');
  }
}

export function toExtents(text: string, extentSize: number, bases: SizeBases, notes: string[], allowed: ('' | '+' | '-')[], resize = false): Extents {
  // Taking extents away rounds the amount down: never remove more than asked.
  checkSign(text, allowed);
  const spec: SizeSpec = parseSize(text);
  if (spec.kind !== 'percent' && spec.value === 0) throw usageError('invalid size', text, 'must be greater than zero');
  if (spec.kind === 'extents') return { sign: spec.sign, extents: spec.value, approx: false };
  if (spec.kind === 'percent') {
    // As LVM: lvcreate rounds a percentage down, lvextend up (lvreduce down).
    const exact = (bases[spec.of] * spec.value) / 100;
    return { sign: spec.sign, extents: resize && spec.sign !== '-' ? Math.ceil(exact) : Math.floor(exact), approx: true };
  }
  const down = spec.sign === '-';
  const extents = down ? Math.floor(spec.value / extentSize) : Math.ceil(spec.value / extentSize);
  if (extents * extentSize !== spec.value)
    notes.push(`Rounding ${down ? 'down' : 'up'} size to full physical extent ${formatSize(sectors(extents * extentSize))}`);
  return { sign: spec.sign, extents, approx: false };
}

export function requirePositive(what: string, name: string, n: number): void {
  if (n < 1) throw failed(what, name, 'size must be at least one extent');
}
