import { readFileSync } from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { ToolError, usageError } from './errors.js';
import { EXIT } from './exit-codes.js';
import { PATHS } from './paths.js';

let cachedVersion: string | undefined;
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
export function parser(tool: string, argv: string[], usage: string): Argv {
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

export function messageFor(tool: string, e: unknown): string {
  if (e instanceof ToolError) return `${tool}: ${e.message}`;
  if (backendErrorKind(e) !== null) return `${tool}: ${(e as Error).message.replace(/\s+/g, ' ')}`;
  const detail = e instanceof Error ? (e.stack?.split('\n').slice(0, 2).join(' ') ?? e.message) : String(e);
  return `${tool}: internal error: ${detail.replace(/\s+/g, ' ')}`;
}

/**
 * Run a tool's main. Errors become one stderr line and an exit code; nothing
 * calls process.exit, so stdout is always flushed. EPIPE on stdout (a reader
 * that went away, e.g. `| head`) is silent.
 */
export function runTool(tool: string, main: (argv: string[]) => Promise<void>, argv = process.argv.slice(2)): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') return;
    process.stderr.write(`${tool}: write 'stdout': ${err.code ?? err.message}\n`);
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
