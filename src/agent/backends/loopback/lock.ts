// The loopback directory's lock: flock(2) on DIR/.lock, so agents in other
// processes (other --node names on this machine) wait for each other and a
// killed holder's lock goes with its process. flock is taken without waiting
// and retried on a timer, never blocking the event loop; an in-process queue
// per directory keeps two backends in one process (the contract suite, one
// process running several agents) from waiting on each other's lock there.
import { closeSync, existsSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { environmentError, causeOf } from '../../../lib/errors.js';

type FlockFn = (fd: number, mode: 'ex' | 'sh' | 'un', wait: boolean) => boolean;
let flockFn: FlockFn | undefined;
function flock(): FlockFn {
  if (!flockFn) {
    try {
      // Up from this module (or the bundle it was put in) to the package's native/ folder.
      let dir = path.dirname(fileURLToPath(import.meta.url));
      while (!existsSync(path.join(dir, 'native/build/Release/flock.node')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
      flockFn = (createRequire(import.meta.url)(path.join(dir, 'native/build/Release/flock.node')) as { flock: FlockFn }).flock;
    } catch (e) {
      throw environmentError('native addon', 'flock.node', `${causeOf(e)} (run 'npm install')`);
    }
  }
  return flockFn;
}

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
    for (let delay = 2; !flock()(fd, 'ex', false); delay = Math.min(delay * 2, 50)) await new Promise((r) => setTimeout(r, delay));
    return await fn();
  } finally {
    closeSync(fd); // drops the flock
    release();
    if (queues.get(lockFile) === tail) queues.delete(lockFile);
  }
}
