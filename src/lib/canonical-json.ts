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

function internal(path: string, cause: string): ToolError {
  return new ToolError(EXIT.INTERNAL, `refusing to write JSON '${path}': ${cause}`);
}

/** One canonical document: sorted keys, no whitespace, trailing newline. */
export function canonicalJson(value: unknown): string {
  check(value, '$');
  return stringify(value) + '\n';
}
