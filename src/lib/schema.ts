import { readFileSync, readdirSync } from 'node:fs';
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import { invalidInput } from './errors.js';

/**
 * JSON Schemas live in <repo>/schemas/<kind>.schema.json, one per format
 * `dvm.<kind>/<version>`. Each is compiled at most once per process, and only
 * when a tool first needs it (tools are short-lived; see bench/README.md).
 */
const SCHEMA_DIR = new URL('../../../schemas/', import.meta.url);

const SCHEMA_BASE = 'https://dvm.invalid/schemas/';
let ajv: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();

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

function fileFor(format: string): string {
  const m = /^dvm\.([a-z-]+)\/(\d+)$/.exec(format);
  if (!m) throw invalidInput('unknown format', format);
  return `${m[1]}.v${m[2]}.schema.json`;
}

function getAjv(): Ajv {
  if (!ajv) {
    ajv = new Ajv({ allErrors: false, strict: true });
    // Schemas refer to each other by file name; adding is cheap, compiling happens on first use.
    for (const f of readdirSync(SCHEMA_DIR).filter((n) => n.endsWith('.schema.json'))) {
      ajv.addSchema(JSON.parse(readFileSync(new URL(f, SCHEMA_DIR), 'utf8')));
    }
  }
  return ajv;
}

export function validator(format: string): ValidateFunction {
  let v = compiled.get(format);
  if (!v) {
    const found = getAjv().getSchema(`${SCHEMA_BASE}${fileFor(format)}`);
    if (!found) throw invalidInput('unknown format', format);
    v = found;
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
