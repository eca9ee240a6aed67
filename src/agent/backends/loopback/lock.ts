// The loopback directory's lock: flock(2) on DIR/.lock, so agents in other
// processes (other --node names on this machine) wait for each other and a
// killed holder's lock goes with its process. flock is taken without waiting
// and retried on a timer, never blocking the event loop; an in-process queue
// per directory keeps two backends in one process (the contract suite, one
// process running several agents) from waiting on each other's lock there.
import { closeSync, openSync } from 'node:fs';
import { flock } from '../../../lib/flock.js';

const queues = new Map<string, Promise<unknown>>();

export async function withLock<T>(lockFile: string, fn: () => Promise<T> | T): Promise<T> {
  const prev = queues.get(lockFile) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const tail = prev.then(() => mine);
  queues.set(lockFile, tail);
  await prev;
  const fd = openSync(lockFile, 'a', 0o600);
  try {
    for (let delay = 2; !flock(fd, 'ex', false); delay = Math.min(delay * 2, 50)) await new Promise((r) => setTimeout(r, delay));
    return await fn();
  } finally {
    closeSync(fd); // drops the flock
    release();
    if (queues.get(lockFile) === tail) queues.delete(lockFile);
  }
}
