// tm update runs our own mutators in its own process: the same spec, the same
// argument parsing, the same canonical bytes as forking bin/<tool>.js, without
// a second Node start (see bench/README.md). DVM_TM_FORK=1 forks instead;
// test/unit/tm-inprocess.test.ts checks both give identical results.
import { canonicalJson } from '../lib/canonical-json.js';
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
  // The child would get canonical JSON and print canonical JSON: make the same round trip.
  const input = JSON.parse(canonicalJson(vg)) as Vg;
  const result = applyMutator(spec, argv, parsed, input);
  return { doc: JSON.parse(canonicalJson(result.vg)), notes: result.notes.map((n) => `${tool}: ${n}`) };
}
