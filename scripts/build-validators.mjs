// Build step: compile every JSON Schema in schemas/ into standalone ajv
// validators (dist/src/lib/validators.cjs, typed by src/lib/validators.d.cts),
// so that tools neither load ajv's compiler nor generate code at each start
// (they are short-lived processes). schema.ts imports it statically, so each
// tool's bundle holds it and its code cache covers it (scripts/bundle.mjs).
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { Ajv } from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';

const dir = new URL('../schemas/', import.meta.url);
const ajv = new Ajv({ strict: true, allErrors: false, code: { source: true, esm: false } });
const exports = {};
for (const file of readdirSync(dir).filter((f) => f.endsWith('.schema.json')).sort()) {
  const schema = JSON.parse(readFileSync(new URL(file, dir), 'utf8'));
  const m = /^([a-z-]+)\.v(\d+)\.schema\.json$/.exec(file);
  if (!m || !schema.$id) throw new Error(`schemas/${file}: expected <kind>.v<N>.schema.json with an $id`);
  ajv.addSchema(schema);
  exports[`dvm.${m[1]}/${m[2]}`] = schema.$id;
}
const code = standaloneCode.default ? standaloneCode.default(ajv, exports) : standaloneCode(ajv, exports);
mkdirSync(new URL('../dist/src/lib/', import.meta.url), { recursive: true });
writeFileSync(new URL('../dist/src/lib/validators.cjs', import.meta.url), code);
console.log(`validators: ${Object.keys(exports).length} formats compiled into dist/src/lib/validators.cjs`);
