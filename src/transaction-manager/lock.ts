// Opening a VG's devices under flock: exclusive for writers, shared for
// readers, always taken in one stable order (device number, inode) so that
// concurrent tm commands on overlapping device sets cannot deadlock.
import { createRequire } from 'node:module';
import path from 'node:path';
import { PATHS } from '../lib/paths.js';
import { environmentError, failed, causeOf } from '../lib/errors.js';
import { FileDev } from './device.js';

type FlockFn = (fd: number, mode: 'ex' | 'sh' | 'un', wait: boolean) => boolean;
let flockFn: FlockFn | undefined;
function flock(): FlockFn {
  if (!flockFn) {
    try {
      const require = createRequire(import.meta.url);
      flockFn = (require(path.join(PATHS.native, 'build/Release/flock.node')) as { flock: FlockFn }).flock;
    } catch (e) {
      throw environmentError('native addon', 'flock.node', `${causeOf(e)} (run 'npm install')`);
    }
  }
  return flockFn;
}

export function openLocked(paths: string[], mode: 'ex' | 'sh'): FileDev[] {
  const devs: FileDev[] = [];
  try {
    for (const p of paths) {
      try {
        devs.push(FileDev.open(p, mode === 'ex'));
      } catch (e) {
        throw failed('device', p, causeOf(e));
      }
    }
    const order = [...devs].sort((a, b) => a.devno - b.devno || a.ino - b.ino);
    for (let i = 1; i < order.length; i++)
      if (order[i].devno === order[i - 1].devno && order[i].ino === order[i - 1].ino) throw failed('device', order[i].path, `is the same device as ${order[i - 1].path}`);
    const lock = flock();
    for (const d of order) lock(d.fd, mode, true);
    return devs; // in the order given; the kernel drops the locks when the fds close
  } catch (e) {
    for (const d of devs) d.close();
    throw e;
  }
}

export function closeAll(devs: FileDev[]): void {
  for (const d of devs) d.close();
}
