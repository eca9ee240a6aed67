import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import { invalidInput } from './errors.js';

/**
 * JSON Schemas live in <repo>/schemas/<kind>.schema.json, one per format
 * `dvm.<kind>/<version>`. Each is compiled at most once per process, and only
 * when a tool first needs it (tools are short-lived; see bench/README.md).
 */
const SCHEMA_DIR = new URL('../../../schemas/', import.meta.url);

let ajv: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();

export const FORMATS = {
  vg: 'dvm.vg/1',
  envelope: 'dvm.envelope/1',
  dm: 'dvm.dm/1',
  dmexec: 'dvm.dmexec/1',
  dmexecResult: 'dvm.dmexec-result/1',
  discover: 'dvm.discover/1',
} as const;
export type Format = (typeof FORMATS)[keyof typeof FORMATS];

function fileFor(format: string): string {
  const m = /^dvm\.([a-z-]+)\/(\d+)$/.exec(format);
  if (!m) throw invalidInput('unknown format', format);
  return `${m[1]}.v${m[2]}.schema.json`;
}

function getAjv(): Ajv {
  if (!ajv) {
    ajv = new Ajv({ allErrors: false, strict: true });
    // vg.v1 is referenced by envelope.v1; register it up front.
    const vg = JSON.parse(readFileSync(new URL(fileFor(FORMATS.vg), SCHEMA_DIR), 'utf8'));
    ajv.addSchema(vg);
  }
  return ajv;
}

export function validator(format: string): ValidateFunction {
  let v = compiled.get(format);
  if (!v) {
    const a = getAjv();
    const file = fileFor(format);
    let schema: { $id?: string };
    try {
      schema = JSON.parse(readFileSync(new URL(file, SCHEMA_DIR), 'utf8'));
    } catch {
      throw invalidInput('unknown format', format);
    }
    v = (schema.$id && a.getSchema(schema.$id)) || a.compile(schema);
    compiled.set(format, v);
  }
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
