// A tool's command line as one table: yargs is built from it (help, usage
// errors, --version), and the common case, a command line yargs would
// accept as it stands, is parsed by yargs-parser alone, the parser yargs
// itself runs, with the configuration yargs gives it. Building a yargs
// instance and running its validation costs ~5 ms of every start here, more
// than the rest of a `report` (docs/startup.md); yargs-parser ~0.5 ms.
// Anything yargs would have to judge (--help, --version, an unknown option,
// an option whose value it checks, a missing word) goes to yargs, which then
// answers exactly as before. test/unit/args.test.ts checks both agree.
import yargsParser from 'yargs-parser';
import type { Argv } from 'yargs';

export interface OptionSpec {
  type: 'string' | 'boolean' | 'number';
  describe: string;
  alias?: string;
  array?: boolean;
  /** yargs refuses the option without a value */
  requiresArg?: boolean;
  default?: string;
  choices?: readonly string[];
  demandOption?: boolean;
  /** yargs judges it against other options (conflicts, a check): when given, yargs parses */
  checked?: boolean;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

export interface CommandLine {
  options: OptionTable;
  /**
   * The default command's positionals as yargs declares them (`vg`, `devs..`
   * for variadic); a required one is `<name>`. Absent: the words stay in `_`.
   */
  positionals?: readonly string[];
  /** at most this many words: more goes to yargs */
  maxWords?: number;
  /** yargs-parser settings the tool gives yargs (parserConfiguration) */
  configuration?: Partial<yargsParser.Configuration>;
}

/** The table's options on a yargs instance. */
export function withOptions(y: Argv, options: OptionTable): Argv {
  for (const [name, o] of Object.entries(options)) {
    y = y.option(name, {
      type: o.type,
      describe: o.describe,
      ...(o.alias === undefined ? {} : { alias: o.alias }),
      ...(o.array ? { array: true } : {}),
      ...(o.requiresArg ? { requiresArg: true } : {}),
      ...(o.default === undefined ? {} : { default: o.default }),
      ...(o.choices ? { choices: o.choices as string[] } : {}),
      ...(o.demandOption ? { demandOption: true } : {}),
    });
  }
  return y;
}

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** What the table's options are to yargs-parser, as yargs passes them (yargs-factory's option()). */
function parserOptions(options: OptionTable): yargsParser.Options {
  const o = { string: [] as string[], boolean: [] as string[], number: [] as string[], array: [] as string[], alias: {} as Record<string, string[]>, default: {} as Record<string, unknown>, key: {} as Record<string, boolean> };
  for (const [name, s] of Object.entries(options)) {
    const keys = s.alias === undefined ? [name] : [name, s.alias];
    o.key[name] = true; // yargs declares every option so: its camelCase alias comes from here
    o[s.type].push(...keys);
    if (s.array) o.array.push(...keys);
    if (s.alias !== undefined) o.alias[name] = [s.alias];
    if (s.default !== undefined) o.default[name] = s.default;
  }
  return o;
}

/** The words' names as yargs gives them for `$0 <a> <b> [c..]`: null when a required one is missing. */
function positionalsOf(words: string[], names: readonly string[]): Record<string, unknown> | null {
  const out: Record<string, unknown> = {};
  let i = 0;
  for (const p of names) {
    const name = p.replace(/^[<[]|[\]>]$/g, '');
    const variadic = name.endsWith('..');
    const key = variadic ? name.slice(0, -2) : name;
    if (variadic) {
      out[key] = words.slice(i);
      i = words.length;
    } else if (i < words.length) out[key] = words[i++];
    else if (p.startsWith('<')) return null;
  }
  return out;
}

/**
 * The parse yargs would give `argv`, or null when yargs must see it: help or
 * version asked for, any option outside the table, a parse error, a given
 * option yargs checks the value of, a demanded option missing, too many or
 * too few words. Keys: each option under its name, alias and camelCase
 * name, `_` the words, and the positionals by name.
 */
export function quickParse(argv: string[], line: CommandLine): (Record<string, unknown> & { _: string[] }) | null {
  const r = yargsParser.detailed(argv, { ...parserOptions(line.options), configuration: { 'parse-positional-numbers': false, ...line.configuration } });
  if (r.error) return null;
  const known = new Set<string>(['_']);
  for (const [name, s] of Object.entries(line.options)) {
    known.add(name).add(camel(name));
    if (s.alias !== undefined) known.add(s.alias).add(camel(s.alias));
  }
  const args = r.argv;
  for (const key of Object.keys(args)) if (!known.has(key)) return null;
  const defaulted = new Set(Object.keys((r as { defaulted?: Record<string, unknown> }).defaulted ?? {}));
  for (const [name, s] of Object.entries(line.options)) {
    const given = args[name] !== undefined && !defaulted.has(name);
    if (given && (s.requiresArg || s.choices || s.checked)) return null;
    if (s.demandOption && args[name] === undefined) return null;
  }
  const words = args._.map(String);
  if (line.maxWords !== undefined && words.length > line.maxWords) return null;
  let named: Record<string, unknown> = {};
  if (line.positionals) {
    // yargs fills a command's positionals only from the words before `--`
    if (argv.includes('--')) return null;
    const p = positionalsOf(words, line.positionals);
    if (p === null) return null;
    named = p;
  }
  return Object.assign(args, named, { _: line.positionals ? [] : words });
}
