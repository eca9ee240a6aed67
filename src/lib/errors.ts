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

/** `<what> '<object>': <cause>` — the shape of every diagnostic. */
export function describe(what: string, object: string | number | undefined, cause?: string): string {
  const obj = object === undefined ? '' : ` '${object}'`;
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
