// How long the agent sleeps between passes. Pure: the loop passes in what the
// last pass found and a random number, so tests can check every rule.
//   converged             about 60 s, with jitter (agents do not pass in step)
//   not converged         0.1 s, growing x4 to 10 s while nothing moves;
//                         back to 0.1 s whenever a step succeeded
//   a step or pass failed 1 s, doubling to 60 s (errors back off)
// A change in the store cuts any sleep short (the loop's watch).

export interface Outcome {
  converged: boolean;
  /** A step ran and succeeded: things are moving. */
  progressed: boolean;
  /** A step failed, or the pass itself did (store or backend unavailable). */
  failed: boolean;
}

export interface Backoff {
  unconvergedMs: number;
  errorMs: number;
}

export const CONVERGED_MS = 60_000;
export const JITTER = 0.1;
export const UNCONVERGED_FIRST_MS = 100;
export const UNCONVERGED_MAX_MS = 10_000;
export const ERROR_FIRST_MS = 1000;
export const ERROR_MAX_MS = 60_000;

export const initialBackoff = (): Backoff => ({ unconvergedMs: UNCONVERGED_FIRST_MS, errorMs: ERROR_FIRST_MS });

/** The delay before the next pass and the backoff state after it. `random` in [0, 1). */
export function nextDelay(o: Outcome, b: Backoff, random: number): { delayMs: number; backoff: Backoff } {
  if (o.failed) {
    const delayMs = b.errorMs;
    return { delayMs, backoff: { unconvergedMs: UNCONVERGED_FIRST_MS, errorMs: Math.min(b.errorMs * 2, ERROR_MAX_MS) } };
  }
  if (o.converged) {
    const delayMs = Math.round(CONVERGED_MS * (1 - JITTER + 2 * JITTER * random));
    return { delayMs, backoff: initialBackoff() };
  }
  const start = o.progressed ? UNCONVERGED_FIRST_MS : b.unconvergedMs;
  return { delayMs: start, backoff: { unconvergedMs: Math.min(start * 4, UNCONVERGED_MAX_MS), errorMs: ERROR_FIRST_MS } };
}
