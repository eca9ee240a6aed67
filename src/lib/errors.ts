import { EXIT, type ExitCode } from './exit-codes.js';

/**
 * The one error type tools throw. `message` is the whole diagnostic after the
 * tool name: `<what> '<object>': <cause>`; the CLI runner prefixes the tool.
 */
export class ToolError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

/** Longest object a diagnostic echoes, and longest diagnostic line. */
export const ECHO_MAX = 256;
export const LINE_MAX = 2048;

/**
 * Text safe to put in a one-line diagnostic: control characters (newline,
 * NUL, escape...) written as \n, \0, \xNN; cut at `max` characters with a
 * note of the full length, so a 50 MB path never becomes a 50 MB message.
 */
export function quoteText(text: string, max = ECHO_MAX): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  // eslint-disable-next-line no-control-regex
  const safe = cut.replace(/[\x00-\x1f\x7f\u2028\u2029]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '\0' ? '\\0' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return text.length > max ? `${safe}... (${text.length} characters)` : safe;
}

/** `<what> '<object>': <cause>` — the shape of every diagnostic. */
export function describe(what: string, object: string | number | undefined, cause?: string): string {
  const obj = object === undefined ? '' : ` '${quoteText(String(object))}'`;
  return cause === undefined ? `${what}${obj}` : `${what}${obj}: ${cause}`;
}

export const failed = (what: string, object?: string | number, cause?: string) =>
  new ToolError(EXIT.FAILED, describe(what, object, cause));
export const usageError = (what: string, object?: string | number, cause?: string) =>
  new ToolError(EXIT.USAGE, describe(what, object, cause));
export const invalidInput = (what: string, object?: string | number, cause?: string) =>
  new ToolError(EXIT.INVALID_INPUT, describe(what, object, cause));
export const environmentError = (what: string, object?: string | number, cause?: string) =>
  new ToolError(EXIT.ENVIRONMENT, describe(what, object, cause));

/** Node's system errors carry a code such as ENOENT; keep only the useful part. */
export function causeOf(e: unknown): string {
  if (e instanceof ToolError) return e.message;
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    const err = e as NodeJS.ErrnoException;
    return err.code ?? String(err.message);
  }
  return e instanceof Error ? e.message : String(e);
}
