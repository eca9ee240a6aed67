// Opening a VG's devices under flock: exclusive for writers, shared for
// readers, always taken in one stable order (device number, inode) so that
// concurrent tm commands on overlapping device sets cannot deadlock.
import { flock } from '../lib/flock.js';
import { failed, causeOf } from '../lib/errors.js';
import { FileDev } from '../pv-format/device.js';

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
    for (const d of order) flock(d.fd, mode, true);
    return devs; // in the order given; the kernel drops the locks when the fds close
  } catch (e) {
    for (const d of devs) d.close();
    throw e;
  }
}

export function closeAll(devs: FileDev[]): void {
  for (const d of devs) d.close();
}
