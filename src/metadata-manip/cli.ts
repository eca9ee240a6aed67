import { lineParser } from '../lib/cli.js';
import type { CommandLine, OptionTable } from '../lib/args.js';
import { usageError } from '../lib/errors.js';
import { readDocument, writeDocument } from '../lib/io.js';
import { FORMATS } from '../lib/schema.js';
import type { MutatorResult } from './common.js';
import type { Vg } from './model.js';

export interface MutatorSpec {
  tool: string;
  usage: string;
  examples: [string, string][];
  positionals: string[];
  /** The last positional may repeat (lv-remove NAME...). */
  variadic?: boolean;
  options?: OptionTable;
  apply: (vg: Vg, pos: string[], args: Record<string, unknown>) => MutatorResult;
}

/** A mutator's arguments, parsed; null when yargs already printed --help or --version. */
export interface ParsedArgs {
  pos: string[];
  args: Record<string, unknown>;
}

/** `lv-reduce data -1G`: a negative size is an argument, not a bundle of short options. */
export function negativesAsWords(argv: string[]): string[] {
  const negative = argv.filter((a) => /^-\d/.test(a));
  const rest = argv.filter((a) => !/^-\d/.test(a));
  const dd = rest.indexOf('--');
  return negative.length ? (dd >= 0 ? [...rest, ...negative] : [...rest, '--', ...negative]) : rest;
}

/** Every word of a mutator stays a string (a size such as 010 or 1e3 is the mutator's to read). */
const CONFIGURATION = { 'parse-positional-numbers': false, 'parse-numbers': false };

/** A mutator's command line; strict about options only: positionals are ours to count. */
export const mutatorLine = (spec: MutatorSpec): CommandLine => ({ options: spec.options ?? {}, configuration: CONFIGURATION });

/** A mutator's parse: quickParse's answer, or yargs' (help, usage errors, whatever quickParse leaves to it). */
export const mutatorParser = (spec: MutatorSpec) =>
  lineParser(spec.tool, spec.usage, mutatorLine(spec), (y) => {
    y = y.strict(false).strictOptions().parserConfiguration(CONFIGURATION);
    for (const [cmd, what] of spec.examples) y = y.example(cmd, what);
    return y;
  });

export async function parseMutatorArgs(spec: MutatorSpec, argv: string[]): Promise<ParsedArgs | null> {
  const args = await mutatorParser(spec).parse(negativesAsWords(argv));
  if (!args) return null;
  const pos = args._.map(String);
  if (spec.variadic ? pos.length < spec.positionals.length : pos.length !== spec.positionals.length)
    throw usageError('usage', undefined, `expected ${spec.positionals.join(' ')}, got ${pos.length} argument${pos.length === 1 ? '' : 's'} (see '${spec.tool} --help')`);
  return { pos, args };
}

/** The change itself, made the same way by the CLI and by tm update in-process. */
export function applyMutator(spec: MutatorSpec, argv: string[], parsed: ParsedArgs, vg: Vg): MutatorResult {
  const result = spec.apply(vg, parsed.pos, parsed.args);
  result.vg.description = [spec.tool, ...argv].join(' ').slice(0, 4096);
  return result;
}

/**
 * The shared thin main of every mutator: arguments first (so --help and usage
 * errors never wait for stdin), then dvm.vg/1 in, the pure change, dvm.vg/1 out.
 * Notes (rounding and the like) go to stderr; the document is only written on success.
 */
export function mutatorMain(spec: MutatorSpec): (argv: string[]) => Promise<void> {
  return async (argv) => {
    const parsed = await parseMutatorArgs(spec, argv);
    if (!parsed) return;
    const vg = await readDocument<Vg>([FORMATS.vg]);
    const result = applyMutator(spec, argv, parsed, vg);
    for (const note of result.notes) process.stderr.write(`${spec.tool}: ${note}\n`);
    await writeDocument(result.vg);
  };
}

/** A whole-number option, or a usage error naming it. */
export function intOption(args: Record<string, unknown>, name: string): number | undefined {
  const v = args[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw usageError('invalid option', `--${name}`, `expected a whole number, got '${String(v)}'`);
  return n;
}

export const PV_OPTION: OptionTable = { pv: { type: 'string', array: true, describe: 'take extents only from these PVs (by id; ID:FIRST-LAST limits to a PE range)' } };
export const strings = (v: unknown): string[] | undefined => (v === undefined ? undefined : (v as unknown[]).map(String));
