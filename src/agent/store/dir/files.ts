// File primitives of the directory store: atomic replacement (write a
// temporary file, fsync, rename over the target, fsync the directory), reads
// that say "absent" instead of throwing, and the permission rule (private to
// its owner: a store others can write is refused).
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeSync, lstatSync, constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { causeOf, environmentError } from '../../../lib/errors.js';
import { StoreUnavailable } from '../types.js';

export const TMP_PREFIX = '.tmp-';

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replace `file` with `text` atomically; readers see the old or the new bytes, never a mix. */
export function writeAtomic(file: string, text: string, opts: { syncDir?: boolean } = {}): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `${TMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      const buf = Buffer.from(text);
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* never created, or already renamed */
    }
    throw new StoreUnavailable(`write '${file}': ${causeOf(e)}`);
  }
  if (opts.syncDir !== false) fsyncDir(dir);
}

export function removeFile(file: string, opts: { syncDir?: boolean } = {}): boolean {
  try {
    unlinkSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new StoreUnavailable(`remove '${file}': ${causeOf(e)}`);
  }
  if (opts.syncDir !== false) fsyncDir(path.dirname(file));
  return true;
}

/** The file's text, or null when it does not exist. */
export function readIfExists(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StoreUnavailable(`read '${file}': ${causeOf(e)}`);
  }
}

/** Names in `dir` that are documents (not temporaries, not locks), sorted. */
export function listDocs(dir: string, suffix = '.json'): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => !n.startsWith('.') && n.endsWith(suffix))
      .sort();
  } catch (e) {
    throw new StoreUnavailable(`read '${dir}': ${causeOf(e)}`);
  }
}

/** Temporaries left by a writer that died between write and rename. */
export function removeStaleTemporaries(dir: string): void {
  for (const n of readdirSync(dir)) {
    if (!n.startsWith(TMP_PREFIX)) continue;
    const pid = Number(n.slice(TMP_PREFIX.length).split('-')[0]);
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // its writer may still be running
    } catch {
      /* no such process: stale */
    }
    try {
      unlinkSync(path.join(dir, n));
    } catch {
      /* someone else removed it */
    }
  }
}

export function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw environmentError('store', dir, causeOf(e));
  }
}

/**
 * The store is private to its owner: a directory (not a symlink, below the
 * top) owned by us or root that nobody else can write. Anything else is
 * refused: another user could plant a desired state that formats devices.
 */
export function checkPrivate(dir: string, top: boolean): void {
  let st;
  try {
    st = top ? statSync(dir) : lstatSync(dir);
  } catch (e) {
    throw environmentError('store', dir, causeOf(e));
  }
  if (!st.isDirectory()) throw environmentError('store', dir, 'not a directory');
  const uid = process.geteuid?.() ?? 0;
  if (st.uid !== uid && st.uid !== 0) throw environmentError('store', dir, `owned by uid ${st.uid}, not by this user (${uid}) or root`);
  if (st.mode & 0o022) throw environmentError('store', dir, `others can write it (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); it must be private (chmod 700)`);
}

/** An open lock file (created 0600 when missing; libuv opens with O_CLOEXEC, so children never inherit a lock). */
export function openLockFile(file: string): number {
  try {
    return openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600);
  } catch (e) {
    throw new StoreUnavailable(`open '${file}': ${causeOf(e)}`);
  }
}

/** Whether `fd` is still the file at `file` (a lock on a replaced file guards nothing). */
export function sameFile(fd: number, file: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = statSync(file);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}
