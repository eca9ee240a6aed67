// Opening a VG's devices under flock: exclusive for writers, shared for
// readers, always taken in one stable order (device number, inode) so that
// concurrent tm commands on overlapping device sets cannot deadlock.
import { fstatSync, readFileSync } from 'node:fs';
import { flock } from '../lib/flock.js';
import { ToolError, failed, causeOf } from '../lib/errors.js';
import { FileDev } from '../pv-format/device.js';

/** How long tm waits for another tm's lock by default; --timeout sets it. */
export const DEFAULT_LOCK_WAIT_S = 300;

/** Who holds a flock on this file, from /proc/locks (null when it cannot be told). */
export function lockHolder(d: FileDev): string | null {
  try {
    const st = fstatSync(d.fd);
    const dev = `${((st.dev >> 8) & 0xfff).toString(16).padStart(2, '0')}:${((st.dev & 0xff) | ((st.dev >> 12) & 0xfff00)).toString(16).padStart(2, '0')}:${st.ino}`;
    for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      // "1: FLOCK  ADVISORY  WRITE 1234 fd:00:5678 0 EOF"
      if (f[1] !== 'FLOCK' || f[5] !== dev) continue;
      const pid = Number(f[4]);
      if (pid === process.pid) continue;
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(0, 6).join(' ');
      } catch {
        // gone, or not ours to read
      }
      return `pid ${pid}${cmd ? ` (${cmd})` : ''}`;
    }
  } catch {
    // no /proc
  }
  return null;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function openLocked(paths: string[], mode: 'ex' | 'sh', waitSeconds = DEFAULT_LOCK_WAIT_S): FileDev[] {
  const devs: FileDev[] = [];
  try {
    for (const p of paths) {
      try {
        devs.push(FileDev.open(p, mode === 'ex'));
      } catch (e) {
        if (e instanceof ToolError) throw e; // already names the device
        throw failed('device', p, causeOf(e));
      }
    }
    const order = [...devs].sort((a, b) => a.devno - b.devno || a.ino - b.ino);
    for (let i = 1; i < order.length; i++)
      if (order[i].devno === order[i - 1].devno && order[i].ino === order[i - 1].ino) throw failed('device', order[i].path, `is the same device as ${order[i - 1].path}`);
    // Polled, not blocking, so that the wait has a limit: a mutator that runs
    // tm on the same VG would otherwise deadlock with the tm that runs it.
    const deadline = Date.now() + waitSeconds * 1000;
    for (const d of order) {
      for (let pause = 5; !flock(d.fd, mode, false); pause = Math.min(pause * 2, 100)) {
        if (Date.now() >= deadline) {
          const holder = lockHolder(d);
          throw failed('lock', d.path, `still held after ${waitSeconds} s${holder ? ` by ${holder}` : ' by another process'}; nothing done`);
        }
        sleepMs(pause);
      }
    }
    return devs; // in the order given; the kernel drops the locks when the fds close
  } catch (e) {
    for (const d of devs) d.close();
    throw e;
  }
}

export function closeAll(devs: FileDev[]): void {
  for (const d of devs) d.close();
}
