import { handledByYargs, parser } from '../lib/cli.js';
import { quickParse, withOptions, type CommandLine, type OptionTable } from '../lib/args.js';
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

/** A mutator's command line; strict about options only: positionals are ours to count. */
export const mutatorLine = (spec: MutatorSpec): CommandLine => ({ options: spec.options ?? {}, configuration: { 'parse-positional-numbers': false, 'parse-numbers': false } });

export async function parseMutatorArgs(spec: MutatorSpec, argv: string[]): Promise<ParsedArgs | null> {
  const normalized = negativesAsWords(argv);
  const args = quickParse(normalized, mutatorLine(spec)) ?? (await mutatorViaYargs(spec, normalized));
  if (!args) return null;
  const pos = args._.map(String);
  if (spec.variadic ? pos.length < spec.positionals.length : pos.length !== spec.positionals.length)
    throw usageError('usage', undefined, `expected ${spec.positionals.join(' ')}, got ${pos.length} argument${pos.length === 1 ? '' : 's'} (see '${spec.tool} --help')`);
  return { pos, args };
}

/** The parse by yargs itself (help, usage errors, whatever quickParse leaves to it); null when it printed help or the version. */
export async function mutatorViaYargs(spec: MutatorSpec, argv: string[]): Promise<(Record<string, unknown> & { _: (string | number)[] }) | null> {
  const line = mutatorLine(spec);
  let y = (await parser(spec.tool, argv, spec.usage)).strict(false).strictOptions().parserConfiguration(line.configuration!);
  for (const [cmd, what] of spec.examples) y = y.example(cmd, what);
  const args = (await withOptions(y, line.options).parse()) as Record<string, unknown> & { _: (string | number)[] };
  return handledByYargs(args) ? null : args;
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
