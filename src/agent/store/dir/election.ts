// The credentialed election of a directory store: an exclusive flock on
// `election.lock` held for as long as the credentialed agent runs. A standby
// polls for it; the kernel releases it when the holder dies, however it dies.
// `election.json` names the holder for readers (informational: the lock is
// the truth).
import { closeSync } from 'node:fs';
import path from 'node:path';
import { flock, flockPoll } from '../../../lib/flock.js';
import { canonicalJson } from '../../../lib/canonical-json.js';
import { StoreConflict, type Leadership } from '../types.js';
import { openLockFile, readIfExists, removeFile, sameFile, writeAtomic } from './files.js';

export const ELECTION_LOCK = 'election.lock';
export const ELECTION_INFO = 'election.json';

export class DirLeadership implements Leadership {
  readonly elected: Promise<void>;
  private fd: number | null;
  private held = false;
  private readonly abort = { aborted: false };
  private readonly lost: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly dir: string,
    private readonly node: string,
  ) {
    this.fd = openLockFile(path.join(dir, ELECTION_LOCK));
    const fd = this.fd;
    this.elected = flockPoll(fd, 'ex', Infinity, this.abort).then((ok) => {
      if (!ok) throw new StoreConflict(`election '${this.dir}': resigned before being elected`);
      this.held = true;
      writeAtomic(path.join(this.dir, ELECTION_INFO), canonicalJson({ node: this.node, pid: process.pid, since: new Date().toISOString() }));
      this.timer = setInterval(() => this.isLeader(), 1000);
      this.timer.unref();
    });
    this.elected.catch(() => {}); // a standby that resigns has nobody waiting on it
  }

  isLeader(): boolean {
    if (!this.held || this.fd === null) return false;
    // The lock guards the file it was taken on; a store directory replaced
    // or removed under us means the election is gone.
    if (sameFile(this.fd, path.join(this.dir, ELECTION_LOCK))) return true;
    this.held = false;
    if (this.timer) clearInterval(this.timer);
    for (const cb of this.lost.splice(0)) cb();
    return false;
  }

  async fenced<T>(call: () => Promise<T>): Promise<T> {
    if (!this.isLeader()) throw new StoreConflict(`election '${this.dir}': node '${this.node}' does not hold the credentialed election`);
    return call();
  }

  onLost(cb: () => void): void {
    this.lost.push(cb);
  }

  async resign(): Promise<void> {
    this.abort.aborted = true;
    if (this.timer) clearInterval(this.timer);
    if (this.fd === null) return;
    if (this.held) {
      try {
        const info = readIfExists(path.join(this.dir, ELECTION_INFO));
        if (info && (JSON.parse(info) as { pid?: number }).pid === process.pid) removeFile(path.join(this.dir, ELECTION_INFO));
      } catch {
        /* informational only */
      }
      flock(this.fd, 'un', false);
    }
    this.held = false;
    closeSync(this.fd);
    this.fd = null;
  }
}

/** Who leads now: null when nobody holds the lock. Probes without waiting. */
export function electionHolder(dir: string): string | null {
  let fd: number;
  try {
    fd = openLockFile(path.join(dir, ELECTION_LOCK));
  } catch {
    return null;
  }
  try {
    if (flock(fd, 'sh', false)) {
      flock(fd, 'un', false);
      return null;
    }
  } finally {
    closeSync(fd);
  }
  try {
    const info = JSON.parse(readIfExists(path.join(dir, ELECTION_INFO)) ?? 'null') as { node?: unknown } | null;
    return typeof info?.node === 'string' ? info.node : '?';
  } catch {
    return '?';
  }
}
