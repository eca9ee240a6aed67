import type { ErrorObject } from 'ajv';
import { invalidInput } from './errors.js';
import compiled from './validators.cjs';

/**
 * JSON Schemas live in <repo>/schemas/<kind>.v<N>.schema.json, one per format
 * `dvm.<kind>/<N>`. The build compiles them all into standalone validators
 * (scripts/build-validators.mjs -> dist/src/lib/validators.cjs), so tools load
 * no schema compiler at start.
 */
export const FORMATS = {
  vg: 'dvm.vg/1',
  envelope: 'dvm.envelope/1',
  dm: 'dvm.dm/1',
  dmexec: 'dvm.dmexec/1',
  dmexecResult: 'dvm.dmexec-result/1',
  discover: 'dvm.discover/1',
  report: 'dvm.report/1',
} as const;
export type Format = (typeof FORMATS)[keyof typeof FORMATS];

type Validate = ((doc: unknown) => boolean) & { errors?: ErrorObject[] | null };
const validators = compiled as Record<string, Validate>;

export function validator(format: string): Validate {
  const v = validators[format];
  if (!v) throw invalidInput('unknown format', format);
  return v;
}

function explain(e: ErrorObject): string {
  const where = e.instancePath || '/';
  const extra = e.keyword === 'additionalProperties' ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'` : '';
  return `${where} ${e.message ?? 'is invalid'}${extra}`;
}

/** Validate `doc` against its format's schema; throws exit-3 errors naming the field. */
export function validate<T>(format: string, doc: unknown, source = 'stdin'): T {
  const v = validator(format);
  if (!v(doc)) throw invalidInput('invalid input', source, `${format} ${explain(v.errors![0])}`);
  return doc as T;
}
