// uvu has no async throws: this awaits `p` and asserts it rejects (with an
// error `check` accepts, when given).
import * as assert from 'uvu/assert';

export async function rejects(p: Promise<unknown>, check?: (e: unknown) => boolean, message?: string): Promise<void> {
  let error: unknown;
  try {
    await p;
  } catch (e) {
    error = e ?? new Error('rejected with nothing');
  }
  if (error === undefined) assert.unreachable(`expected a rejection${message ? `: ${message}` : ''}`);
  if (check && !check(error)) assert.unreachable(`unexpected rejection${message ? ` (${message})` : ''}: ${(error as Error)?.message ?? String(error)}`);
}
