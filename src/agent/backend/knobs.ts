// Knobs in a backend spec: `kind[:arg][?key=value&key=value]`. Each backend
// reads its own with these helpers; an unknown key or a bad value is a usage
// error (exit 2) naming the spec, the key and what it wants.
import { usageError } from '../../lib/errors.js';
import { parseSize, toBytes } from '../../lib/units.js';

export class Knobs {
  private readonly used = new Set<string>();
  constructor(
    /** The whole spec, for messages. */
    readonly spec: string,
    readonly values: Record<string, string>,
  ) {}

  private bad(key: string, wants: string): never {
    throw usageError('invalid backend', this.spec, `knob '${key}=${this.values[key]}' wants ${wants}`);
  }

  has(key: string): boolean {
    this.used.add(key);
    return key in this.values;
  }

  string(key: string): string | undefined {
    this.used.add(key);
    return this.values[key];
  }

  /** A whole number >= min. */
  int(key: string, def: number, min = 0): number {
    const v = this.string(key);
    if (v === undefined) return def;
    if (!/^\d+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) this.bad(key, `a whole number >= ${min}`);
    return Number(v);
  }

  /** Milliseconds: `250`, `250ms`, `2s`, `1.5s`. */
  ms(key: string, def: number): number {
    const v = this.string(key);
    if (v === undefined) return def;
    const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v);
    if (!m) this.bad(key, 'a duration such as 50ms or 2s');
    return Math.round(Number(m[1]) * (m[2] === 's' ? 1000 : 1));
  }

  /** Bytes from a dvm size (`1M`, `10G`, `512b`; a bare number is MiB). */
  size(key: string, def: number): number {
    const v = this.string(key);
    if (v === undefined) return def;
    try {
      const s = parseSize(v, 'm', { allowSign: false });
      if (s.kind === 'sectors' && s.value > 0) return toBytes(s.value);
    } catch {
      /* reported below */
    }
    this.bad(key, 'a size such as 1M or 10G');
  }

  /** A probability in [0, 1]. */
  probability(key: string, def: number): number {
    const v = this.string(key);
    if (v === undefined) return def;
    if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(v)) this.bad(key, 'a probability between 0 and 1');
    return Number(v);
  }

  bool(key: string, def: boolean): boolean {
    const v = this.string(key);
    if (v === undefined) return def;
    if (['yes', 'true', '1', 'on'].includes(v)) return true;
    if (['no', 'false', '0', 'off'].includes(v)) return false;
    this.bad(key, 'yes or no');
  }

  /** A number (or null for `none`), for limits that may be absent. */
  intOrNone(key: string, def: number | null, min = 0): number | null {
    if (this.values[key] === 'none') {
      this.used.add(key);
      return null;
    }
    return this.has(key) ? this.int(key, 0, min) : def;
  }

  msOrNone(key: string, def: number | null): number | null {
    if (this.values[key] === 'none') {
      this.used.add(key);
      return null;
    }
    return this.has(key) ? this.ms(key, 0) : def;
  }

  sizeOrNone(key: string, def: number | null): number | null {
    if (this.values[key] === 'none') {
      this.used.add(key);
      return null;
    }
    return this.has(key) ? this.size(key, 0) : def;
  }

  /** Call after reading every knob: refuses any key no one asked for. */
  done(): void {
    const unknown = Object.keys(this.values).filter((k) => !this.used.has(k));
    if (unknown.length > 0)
      throw usageError('invalid backend', this.spec, `unknown knob '${unknown[0]}' (known: ${[...this.used].sort().join(', ') || 'none'})`);
  }
}
