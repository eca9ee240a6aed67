import stringify from 'fast-json-stable-stringify';
import { ToolError } from './errors.js';
import { EXIT } from './exit-codes.js';

/**
 * fast-json-stable-stringify silently turns NaN into null and drops undefined;
 * we refuse both (and BigInt, functions, class instances) so that what is
 * written is exactly what was meant, and equal content gives equal bytes.
 */
function check(value: unknown, path: string): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw internal(path, `non-finite number ${value}`);
      if (Number.isInteger(value) && !Number.isSafeInteger(value)) throw internal(path, `integer beyond 2^53 ${value}`);
      return;
    case 'object': {
      if (value === null) return;
      if (Array.isArray(value)) {
        value.forEach((v, i) => check(v, `${path}[${i}]`));
        return;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw internal(path, 'not a plain object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) check(v, `${path}.${k}`);
      return;
    }
    default:
      throw internal(path, `cannot encode ${typeof value}`);
  }
}

/**
 * The same test as check() without building a path string for every value
 * (that was most of its cost on a 10,000-LV VG); only a failure walks again,
 * with paths, for the message. Also tells whether every object's own keys are
 * already in sorted order (what canonicalJsonReusing needs to know).
 * One recursive function on purpose: it runs cold, once per document, and
 * split into value/array/object functions it measured 3x slower at 10,000 LVs.
 */
function fastCheck(value: unknown): { ok: boolean; sorted: boolean } {
  let sorted = true;
  const walk = (v: unknown): boolean => {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return true;
      case 'number':
        return Number.isFinite(v) && (!Number.isInteger(v) || Number.isSafeInteger(v));
      case 'object': {
        if (v === null) return true;
        if (Array.isArray(v)) {
          // forEach semantics, as check(): holes are skipped
          for (let i = 0; i < v.length; i++) if (i in v && !walk(v[i])) return false;
          return true;
        }
        const proto = Object.getPrototypeOf(v);
        if (proto !== Object.prototype && proto !== null) return false;
        const keys = Object.keys(v);
        for (let i = 0; i < keys.length; i++) {
          if (i > 0 && !(keys[i - 1] < keys[i])) sorted = false;
          if (!walk((v as Record<string, unknown>)[keys[i]])) return false;
        }
        return true;
      }
      default:
        return false;
    }
  };
  return { ok: walk(value), sorted };
}

function internal(path: string, cause: string): ToolError {
  return new ToolError(EXIT.INTERNAL, `refusing to write JSON '${path}': ${cause}`);
}

/** Throws canonicalJson's exit-70 error if `value` cannot be written as canonical JSON. */
export function checkEncodable(value: unknown): void {
  checked(value);
}

function checked(value: unknown): { sorted: boolean } {
  const r = fastCheck(value);
  if (!r.ok) {
    check(value, '$'); // throws the error naming the path
    throw internal('$', 'cannot encode'); // not reached: both walks refuse the same values
  }
  return r;
}

/**
 * One canonical document: sorted keys, no whitespace, trailing newline.
 * fast-json-stable-stringify defines the bytes. V8's JSON.stringify visits an
 * object's keys in their own order and formats every checked value as the
 * library does (see canonicalJsonReusing), so a document whose keys are all in
 * sorted order (as parsed from canonical JSON) is written by JSON.stringify,
 * and one with a few unsorted objects (a mutator's new LV) after copying just
 * those with their keys sorted. The library's string concatenation cost ~55 ms
 * plus ~70 ms of garbage collection per commit at 10,000 LVs. Where V8 would
 * not keep sorted order (integer-like keys), the library writes it.
 */
export function canonicalJson(value: unknown): string {
  const { sorted } = checked(value);
  if (sorted) return JSON.stringify(value) + '\n';
  const copy = withSortedKeys(value);
  return (copy === UNSORTABLE ? stringify(value) : JSON.stringify(copy)) + '\n';
}

const UNSORTABLE = Symbol('unsortable');

/** `v` with every object's keys in sorted order, sharing every subtree that already is; UNSORTABLE if V8 would reorder them. */
function withSortedKeys(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < v.length; i++) {
      if (!(i in v)) continue; // a hole stays a hole (null in both writers)
      const n = withSortedKeys(v[i]);
      if (n === UNSORTABLE) return UNSORTABLE;
      if (n !== v[i]) (out ??= v.slice())[i] = n;
    }
    return out ?? v;
  }
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj);
  let unsorted = false;
  let replaced: Map<string, unknown> | null = null; // only for the few objects that change
  for (let i = 0; i < keys.length; i++) {
    if (i > 0 && !(keys[i - 1] < keys[i])) unsorted = true;
    const child = obj[keys[i]];
    const n = withSortedKeys(child);
    if (n === UNSORTABLE) return UNSORTABLE;
    if (n !== child) (replaced ??= new Map()).set(keys[i], n);
  }
  if (!unsorted && !replaced) return v;
  const out: Record<string, unknown> = Object.create(null); // so that a '__proto__' key stays a key
  for (const k of unsorted ? keys.sort() : keys) out[k] = replaced?.has(k) ? replaced.get(k) : obj[k];
  const got = Object.keys(out);
  for (let i = 1; i < got.length; i++) if (!(got[i - 1] < got[i])) return UNSORTABLE;
  return out;
}

/**
 * canonicalJson(doc), reusing `text` when it already is exactly that: `doc`
 * parsed from `text`, and `text` read back from where we wrote canonicalJson's
 * output (a metadata record, whose SHA-256 is checked). It is reused only when
 * every object's keys are in sorted order and JSON.stringify(doc) + newline
 * equals `text`: for a JSON.parse'd document (no toJSON, undefined or holes)
 * JSON.stringify then visits keys in the same order fast-json-stable-stringify
 * sorts them into and formats every value the same way, so the bytes are the
 * library's. Anything else falls back to canonicalJson.
 */
export function canonicalJsonReusing(doc: unknown, text: string): string {
  return isCanonicalText(doc, text) ? text : canonicalJson(doc);
}

/** Whether `text` is canonicalJson(doc) (see canonicalJsonReusing); throws as canonicalJson does. */
export function isCanonicalText(doc: unknown, text: string): boolean {
  const { sorted } = checked(doc);
  return sorted && text.length > 0 && text.charCodeAt(text.length - 1) === 10 && JSON.stringify(doc) + '\n' === text;
}

/**
 * canonicalJson({ ...rest, [key]: value }) given `valueText` = canonicalJson(value)
 * already (trailing newline included), without serializing value again: the
 * library writes `rest` plus a stand-in for `key`, which sorts after every key
 * of `rest` and so comes last, and the stand-in is replaced by `valueText`.
 * Used for the envelope around a 2 MB dvm.vg/1 ("vg" is its last key).
 */
export function canonicalJsonWithLast(rest: Record<string, unknown>, key: string, valueText: string | Buffer): Buffer {
  for (const k of Object.keys(rest)) if (!(k < key)) throw new Error(`canonicalJsonWithLast: key '${k}' does not sort before '${key}'`);
  const outer = canonicalJson({ ...rest, [key]: 0 });
  const stand = `${JSON.stringify(key)}:0}\n`;
  if (!outer.endsWith(stand)) throw new Error('canonicalJsonWithLast: unexpected serialization');
  const value = typeof valueText === 'string' ? Buffer.from(valueText) : valueText;
  if (value[value.length - 1] !== 10) throw new Error('canonicalJsonWithLast: value text must end with a newline');
  return Buffer.concat([Buffer.from(outer.slice(0, outer.length - 3)), value.subarray(0, value.length - 1), Buffer.from('}\n')]);
}
