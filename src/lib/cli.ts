import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { LINE_MAX, ToolError, quoteText, usageError } from './errors.js';
import { EXIT } from './exit-codes.js';
import { PATHS } from './paths.js';
import { onStdoutFailure } from './io.js';
import { quickParse, withOptions, type CommandLine } from './args.js';

/** The package's version, written into the bundle at build (scripts/bundle.mjs); unbundled, read from package.json. */
declare const DVM_BUNDLED_VERSION: string | undefined;
let cachedVersion = typeof DVM_BUNDLED_VERSION === 'string' ? DVM_BUNDLED_VERSION : undefined;
export function dvmVersion(): string {
  if (!cachedVersion) {
    const pkg = JSON.parse(readFileSync(PATHS.packageJson, 'utf8'));
    cachedVersion = String(pkg.version);
  }
  return cachedVersion;
}

/**
 * A yargs parser with the shared conventions: strict options, --help and
 * --version, and usage errors thrown as exit-2 ToolErrors instead of printed.
 */
export async function parser(tool: string, argv: string[], usage: string): Promise<Argv> {
  // Loaded when a tool needs it (help, a usage error, a command line
  // quickParse leaves to it): its modules' evaluation is saved otherwise.
  const { default: yargs } = await import('yargs');
  return yargs(argv)
    .scriptName(tool)
    .usage(usage)
    .strictOptions()
    .exitProcess(false)
    .version(dvmVersion())
    .help()
    .alias('h', 'help')
    .wrap(null)
    .fail((msg, err) => {
      if (err instanceof ToolError) throw err;
      throw usageError('usage', undefined, (msg ?? err?.message ?? 'invalid arguments').split('\n')[0] + ` (see '${tool} --help')`);
    });
}

/** A parsed command line: the options by name, the words in `_`. */
export type ParsedLine = Record<string, unknown> & { _: (string | number)[] };

/**
 * A tool's parse, from its table: quickParse's answer, or yargs' where yargs
 * must judge (src/lib/args.ts). `more` adds to yargs what the table does not
 * hold: a default command's positionals, conflicts, a check, examples.
 * Both give null when yargs printed help or the version.
 */
export function lineParser(tool: string, usage: string, line: CommandLine, more: (y: Argv) => Argv = (y) => y) {
  const viaYargs = async (argv: string[]): Promise<ParsedLine | null> => {
    const args = (await withOptions(more(await parser(tool, argv, usage)), line.options).parseAsync()) as ParsedLine;
    return handledByYargs(args) ? null : args;
  };
  const parse = async (argv: string[]): Promise<ParsedLine | null> => quickParse(argv, line) ?? (await viaYargs(argv));
  return { parse, viaYargs };
}

/** True when yargs already printed help or version and the tool should stop. */
export function handledByYargs(args: object): boolean {
  const a = args as { help?: unknown; version?: unknown };
  return Boolean(a.help || a.version);
}

/**
 * A backend's typed error (src/agent/backend/types.ts), recognised by shape:
 * src/lib imports no agent module. Missing or refused credentials are the
 * environment's fault (4); any other backend failure is a failed operation (1).
 */
function backendErrorKind(e: unknown): string | null {
  return e instanceof Error && e.name === 'BackendError' && typeof (e as { kind?: unknown }).kind === 'string' ? (e as unknown as { kind: string }).kind : null;
}

/** Map any thrown value to the exit-code contract; the only place that does. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof ToolError) return e.exitCode;
  const kind = backendErrorKind(e);
  if (kind !== null) return kind === 'credentials' ? EXIT.ENVIRONMENT : EXIT.FAILED;
  return EXIT.INTERNAL;
}

/** One line, whatever the error echoes (names with newlines, NULs, 50 MB paths). */
export function messageFor(tool: string, e: unknown): string {
  if (e instanceof ToolError) return `${tool}: ${quoteText(e.message, LINE_MAX)}`;
  if (backendErrorKind(e) !== null) return `${tool}: ${quoteText((e as Error).message.replace(/\s+/g, ' '), LINE_MAX)}`;
  const detail = e instanceof Error ? (e.stack?.split('\n').slice(0, 2).join(' ') ?? e.message) : String(e);
  return `${tool}: internal error: ${quoteText(detail.replace(/\s+/g, ' '), LINE_MAX)}`;
}

let committed: string | null = null;
/**
 * Past this point the tool's change is on disk (tm: the commit header is
 * written). A later failure, such as a stdout that cannot be written, is then
 * reported as a warning naming what was committed and the exit status stays
 * 0: exit 0 means committed, any other status means nothing was (README, exit codes).
 */
export function markCommitted(what: string): void {
  committed = what;
}
/** The one-line warning for something that failed after the commit. */
export function afterCommit(tool: string, failure: string): string {
  return `${tool}: warning: ${quoteText(committed ?? 'committed', LINE_MAX)}; but ${quoteText(failure, LINE_MAX)}\n`;
}

/**
 * Run a tool's main. Errors become one stderr line and an exit code, set in
 * process.exitCode; nothing calls process.exit, so stdout is always flushed.
 * EPIPE on stdout (a reader that went away, e.g. `| head`) is silent.
 */
export function runTool(tool: string, main: (argv: string[]) => Promise<void>, argv = process.argv.slice(2)): void {
  onStdoutFailure((err: NodeJS.ErrnoException) => {
    const failure = `write 'stdout': ${quoteText(String(err.code ?? err.message))}`;
    if (committed !== null) {
      process.stderr.write(afterCommit(tool, `${failure} (read it again with 'tm read')`));
      return;
    }
    process.stderr.write(`${tool}: ${failure}\n`);
    process.exitCode = EXIT.FAILED;
  });
  main(argv).then(
    () => {
      process.exitCode ??= EXIT.OK;
    },
    (e: unknown) => {
      process.exitCode = exitCodeFor(e);
      process.stderr.write(messageFor(tool, e) + '\n');
    },
  );
}
