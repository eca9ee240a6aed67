import { usageError } from './errors.js';

/**
 * Sizes on disk and in JSON are 512-byte sectors; bytes appear only at the
 * edges (device sizes, file offsets). Branded types keep the two apart.
 */
/**
 * Exact for every safe integer. Not `n & (n - 1)`: JavaScript's `&` works on
 * 32 bits, so 3 * 2^32 would pass as a power of two.
 */
export const isPowerOfTwo = (n: number): boolean => Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;

export type Sectors = number & { readonly __unit: 'sectors' };
export type Bytes = number & { readonly __unit: 'bytes' };

export const SECTOR = 512;
export const sectors = (n: number): Sectors => n as Sectors;
export const bytes = (n: number): Bytes => n as Bytes;
export const toBytes = (s: Sectors): Bytes => (s * SECTOR) as Bytes;
/** Whole sectors only: a partial sector is not addressable. */
export const toSectorsFloor = (b: Bytes): Sectors => Math.floor(b / SECTOR) as Sectors;

const BINARY: Record<string, number> = { k: 2, m: 2 * 1024, g: 2 * 1024 ** 2, t: 2 * 1024 ** 3, p: 2 * 1024 ** 4, e: 2 * 1024 ** 5 };

/** What a size argument asked for, before the VG says what an extent or FREE is. */
export type SizeSpec =
  | { sign: '' | '+' | '-'; kind: 'sectors'; value: Sectors; rounded: boolean }
  | { sign: '' | '+' | '-'; kind: 'extents'; value: number }
  | { sign: '' | '+' | '-'; kind: 'percent'; value: number; of: 'FREE' | 'VG' | 'PVS' };

const SIZE_RE = /^([+-]?)(\d+(?:\.\d+)?)([bBsSkKmMgGtTpPeE]?)$/;
const PERCENT_RE = /^([+-]?)(\d+(?:\.\d+)?)%(FREE|VG|PVS)$/;

/**
 * Parse `512`, `10M`, `+1G`, `-100m`, `100e` (extents with `e`), `100%FREE`.
 * A bare number is in `defaultUnit` (MiB, as in LVM's -L). Units are binary
 * (k = KiB, as LVM reads them); `s` is sectors, `b` bytes. Sizes that are not
 * a whole number of sectors round up, and `rounded` says so.
 */
export function parseSize(text: string, defaultUnit = 'm', opts: { allowSign?: boolean } = {}): SizeSpec {
  const allowSign = opts.allowSign ?? true;
  const pct = PERCENT_RE.exec(text);
  if (pct) {
    const [, sign, num, of] = pct;
    if (sign && !allowSign) throw usageError('invalid size', text, 'no sign allowed here');
    const value = Number(num);
    if (value <= 0 || value > 100) throw usageError('invalid size', text, 'percentage must be in (0, 100]');
    return { sign: sign as '' | '+' | '-', kind: 'percent', value, of: of as 'FREE' | 'VG' | 'PVS' };
  }
  const m = SIZE_RE.exec(text);
  if (!m) throw usageError('invalid size', text, 'expected a number with an optional unit (s, k, m, g, t, p, b, e for extents, or N%FREE)');
  const [, sign, num, unitRaw] = m;
  if (sign && !allowSign) throw usageError('invalid size', text, 'no sign allowed here');
  const s = sign as '' | '+' | '-';
  const n = Number(num);
  const unit = unitRaw || defaultUnit;
  if (unit === 'e' && unitRaw === 'e') {
    if (!Number.isInteger(n)) throw usageError('invalid size', text, 'extent counts are whole numbers');
    return { sign: s, kind: 'extents', value: n };
  }
  let exact: number;
  const u = unit.toLowerCase();
  if (u === 's') exact = n;
  else if (u === 'b') exact = n / SECTOR;
  else if (u === 'e') exact = n * BINARY.e; // 'E' means exbibytes, never extents
  else exact = n * BINARY[u];
  const value = Math.ceil(exact);
  if (!Number.isSafeInteger(value)) throw usageError('invalid size', text, 'too large');
  return { sign: s, kind: 'sectors', value: sectors(value), rounded: value !== exact };
}

/** A size with no sign and no extents or percentages: extent sizes, metadata sizes. */
export function parseAbsoluteSize(text: string, defaultUnit = 'm'): Sectors {
  const spec = parseSize(text, defaultUnit, { allowSign: false });
  if (spec.kind !== 'sectors') throw usageError('invalid size', text, 'an absolute size is needed here');
  if (spec.value <= 0) throw usageError('invalid size', text, 'must be greater than zero');
  return spec.value;
}

const UNIT_LETTERS = ['k', 'm', 'g', 't', 'p', 'e'];

/**
 * Print a size as LVM's `--units` does: `h` picks the largest binary unit that
 * keeps the number >= 1 (two decimals, with a `<` when rounded down); a fixed
 * unit letter prints in that unit; `s` prints sectors, `b` bytes.
 */
export function formatSize(s: Sectors, units = 'h', extentSize?: Sectors): string {
  const u = units.toLowerCase();
  if (u === 's') return `${s}s`;
  if (u === 'b') return `${s * SECTOR}B`;
  if (u === 'e' && units === 'e') {
    if (!extentSize) throw usageError('invalid units', units, 'extents need an extent size');
    return `${s / extentSize}e`;
  }
  // LVM prints an empty size in human units as "0 " (the unit letter blank).
  if (u === 'h' && s === 0) return '0 ';
  let idx: number;
  if (u === 'h') {
    idx = 0;
    while (idx < UNIT_LETTERS.length - 1 && s >= BINARY[UNIT_LETTERS[idx + 1]]) idx++;
  } else {
    idx = UNIT_LETTERS.indexOf(u);
    if (idx < 0) throw usageError('invalid units', units, 'expected one of h, s, b, k, m, g, t, p, e');
  }
  const letter = UNIT_LETTERS[idx];
  const value = s / BINARY[letter];
  const fixed = value.toFixed(2);
  // LVM marks a size shown rounded up with '<' so that nobody over-counts.
  const less = u === 'h' && Number(fixed) > value ? '<' : '';
  return `${less}${fixed}${letter}`;
}
