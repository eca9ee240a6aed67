// tm update runs our own mutators in its own process: the same spec, the same
// argument parsing, the same canonical bytes as forking bin/<tool>.js, without
// a second Node start (see bench/README.md). DVM_TM_FORK=1 forks instead;
// test/cli/tm-inprocess.test.ts checks both give identical results.
import { SPECS } from './specs.js';
import { applyMutator, parseMutatorArgs } from './cli.js';
import type { Vg } from './model.js';

export interface InProcessResult {
  doc: unknown;
  notes: string[];
}

/** null: not one of ours, or an invocation (--help, --version) only a real process can answer. */
export async function runInProcess(tool: string, argv: string[], vg: Vg): Promise<InProcessResult | null> {
  const spec = Object.hasOwn(SPECS, tool) ? SPECS[tool] : undefined;
  if (!spec || argv.some((a) => a === '--help' || a === '-h' || a === '--version')) return null;
  const parsed = await parseMutatorArgs(spec, argv);
  if (!parsed) return null;
  // The child gets canonical JSON and prints canonical JSON. No round trip is
  // needed for the same bytes: tm hands over the document it parsed from the
  // canonical record (mutators never write to their input: model.ts
  // shallowCopy), and what tm writes is canonicalJson of the result, which
  // equals canonicalJson of the result parsed back. tm's canonicalJson of the
  // result is also the one check that it holds only what JSON carries.
  // Two 2 MB serializations and parses saved at 10,000 LVs (bench/README.md).
  const result = applyMutator(spec, argv, parsed, vg);
  return { doc: result.vg, notes: result.notes.map((n) => `${tool}: ${n}`) };
}
