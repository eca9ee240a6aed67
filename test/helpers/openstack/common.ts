// Shared bits of the OpenStack test harness: free ports, waiting for a
// service to answer, the repo's own harness files, child processes stopped
// for sure.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repo root (this file runs from dist/test/helpers/openstack/). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const harnessFiles = path.join(repoRoot, 'test/helpers/openstack/py');

/** Debian's python: one from elsewhere on PATH may lack the packages or break cffi. */
export const PYTHON = '/usr/bin/python3';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `url` until it answers with any HTTP status; throws with `log()` after `ms`. */
export async function waitForHttp(url: string, ms: number, child: ChildProcess, log: () => string): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${url}: the service exited (${child.exitCode ?? child.signalCode}):\n${log()}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(2000) });
      return Date.now() - t0;
    } catch {
      await sleep(150);
    }
  }
  throw new Error(`${url}: no answer after ${ms} ms:\n${log()}`);
}

/** Starts a service; its output goes to `logFile`. */
const running = new Set<ChildProcess>();
// However the test process ends, the services it started end with it.
process.on('exit', () => {
  for (const c of running) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

export function startService(cmd: string, args: string[], env: NodeJS.ProcessEnv, logFd: number): ChildProcess {
  const child = spawn(cmd, args, { env, stdio: ['ignore', logFd, logFd], detached: true });
  running.add(child);
  child.unref();
  child.once('exit', () => running.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after a grace period, to the service's whole process group. */
export async function stopService(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  // Held again while it stops: an unref'd child would let the process end first.
  child.ref();
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, graceMs);
  await gone;
  clearTimeout(timer);
}
