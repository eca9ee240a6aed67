// flock(2) from the native addon (Node has no binding), shared by tools that
// lock files. The kernel drops a lock when its file description closes, which
// is what makes a killed holder harmless.
import { loadAddon } from './addon.js';

export type FlockMode = 'ex' | 'sh' | 'un';
type FlockFn = (fd: number, mode: FlockMode, wait: boolean) => boolean;

/** flock(fd, mode, wait): true when taken, false when `wait` is false and someone else holds it. */
export function flock(fd: number, mode: FlockMode, wait: boolean): boolean {
  return loadAddon<{ flock: FlockFn }>().flock(fd, mode, wait);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Takes the lock without blocking the event loop (a blocking flock would
 * freeze a long-running agent behind a stopped holder): tries, then polls.
 * Gives up after `timeoutMs` (returns false); Infinity waits forever.
 */
export async function flockPoll(fd: number, mode: 'ex' | 'sh', timeoutMs = Infinity, signal?: { aborted: boolean }): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    // Checked before each try: an aborted caller may have closed `fd` already.
    if (signal?.aborted) return false;
    if (flock(fd, mode, false)) return true;
    if (Date.now() >= until) return false;
    await sleep(Math.min(delay, Math.max(1, until - Date.now())));
    delay = Math.min(delay * 2, 100);
  }
}
