// Moving an application's data onto its dataset, crash-safe at every step.
//
// On the dataset (mounted at M) the application's data lives in M/<subdir>;
// that directory exists only once it is complete: a copy goes to
// M/.dvm-migrate first, is verified, then renamed (atomic on one
// filesystem). The application's data directory is switched by renaming the
// old one aside (kept, never deleted by dvm) and bind-mounting M/<subdir>
// onto the data directory's path. Each step is idempotent and the next one is
// derived from what is on disk, so an agent killed anywhere resumes: either
// the old directory is in use (copy not complete) or the new one is complete.
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, chownSync, chmodSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { AppDefinition } from './definition.js';
import type { MountEntry, Runner, RunResult } from '../apply/types.js';
import { firstLine } from '../apply/runner.js';

/** The topmost mount at `mountPoint` (later lines of mountinfo stack over earlier ones), or null. */
export function mountAt(mounts: MountEntry[], mountPoint: string): MountEntry | null {
  for (let i = mounts.length - 1; i >= 0; i--) if (mounts[i].path === mountPoint) return mounts[i];
  return null;
}

/** One line for a failed command: what ran, its exit status, the first useful line it printed. */
export function describeFailure(argv: readonly string[], r: RunResult): string {
  const line = firstLine(r.stderr || r.stdout).slice(0, 300);
  return `'${argv.join(' ').slice(0, 200)}' exit ${r.code}${line ? `: ${line}` : ''}`;
}

export const STAGING = '.dvm-migrate';

/** What is on disk, as far as a migration cares. */
export interface MigrationFacts {
  /** M/<subdir> exists: the dataset holds complete application data. */
  complete: boolean;
  /** M/.dvm-migrate exists: a copy was started. */
  staging: boolean;
  /** The data directory is a bind mount of M/<subdir> of the dataset's filesystem. */
  switched: boolean;
  /** Something else (not our bind) is mounted at the data directory. */
  foreignMount: string | null;
  dataDirExists: boolean;
  dataDirEmpty: boolean;
}

export type MigrationStep =
  | { kind: 'done' }
  | { kind: 'copy' } // rsync the data directory into staging, verify, rename to M/<subdir>
  | { kind: 'init-empty' } // no data to bring: make M/<subdir> (owner and mode of the data directory, if any)
  | { kind: 'set-aside' } // rename the old data directory aside, make an empty one
  | { kind: 'make-dir' } // the data directory's path is missing: make it
  | { kind: 'bind' } // bind-mount M/<subdir> onto the data directory
  | { kind: 'refuse'; reason: string };

/** Pure: the next step of serving `app` from the dataset. */
export function nextMigrationStep(app: AppDefinition, f: MigrationFacts): MigrationStep {
  if (f.switched) return { kind: 'done' };
  if (f.foreignMount) return { kind: 'refuse', reason: `something else is mounted at the data directory '${app.dataDir}' (${f.foreignMount})` };
  if (!f.complete) {
    if (app.migrate === 'copy' && f.dataDirExists && !f.dataDirEmpty) return { kind: 'copy' };
    return { kind: 'init-empty' };
  }
  if (!f.dataDirExists) return { kind: 'make-dir' };
  if (!f.dataDirEmpty) return { kind: 'set-aside' };
  return { kind: 'bind' };
}

export function observeMigration(app: AppDefinition, mountPoint: string, datasetMount: MountEntry | null, mounts: MountEntry[]): MigrationFacts {
  const target = path.join(mountPoint, app.subdir);
  const at = mountAt(mounts, app.dataDir);
  const switched = Boolean(at && datasetMount && at.devno === datasetMount.devno && at.root === path.posix.join(datasetMount.root ?? '/', app.subdir));
  const exists = existsSync(app.dataDir);
  let empty = true;
  if (exists && !switched) {
    const st = lstatSync(app.dataDir);
    empty = st.isDirectory() ? readdirSync(app.dataDir).length === 0 : false;
  }
  return {
    complete: existsSync(target),
    staging: existsSync(path.join(mountPoint, STAGING)),
    switched,
    foreignMount: at && !switched ? `${at.source} ${at.root ?? '/'}` : null,
    dataDirExists: exists,
    dataDirEmpty: empty,
  };
}

/** The name the old data directory is kept under. */
export function asideName(dataDir: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${dataDir}.dvm-old-${stamp}`;
}

export interface MigrationEffects {
  run: Runner;
  /** A file the copy holds a flock on (flock(1)) while it runs; none: no lock. */
  copyLock?: string;
  now: () => Date;
  log: (line: string) => void;
}

const RSYNC_COPY = ['-aHAXS', '--numeric-ids', '--delete'];
const RSYNC_CHECK = ['-naHAXc', '--numeric-ids', '--delete', '--itemize-changes'];
const DAY_MS = 24 * 3600_000;

/**
 * Runs one step (the caller has stopped the application and mounted the
 * dataset read-write at `mountPoint`). Throws with one line on failure; the
 * next pass observes and resumes.
 */
export async function runMigrationStep(step: MigrationStep, app: AppDefinition, mountPoint: string, fx: MigrationEffects): Promise<void> {
  const target = path.join(mountPoint, app.subdir);
  const staging = path.join(mountPoint, STAGING);
  switch (step.kind) {
    case 'done':
      return;
    case 'refuse':
      throw new Error(step.reason);
    case 'copy': {
      // rsync into staging is idempotent: a copy interrupted earlier resumes.
      const src = app.dataDir.replace(/\/?$/, '/');
      const dst = staging + '/';
      const rsync = ['rsync', ...RSYNC_COPY, src, dst];
      const argv = fx.copyLock ? ['flock', '-w', String(DAY_MS / 1000), fx.copyLock, ...rsync] : rsync;
      const copy = await fx.run(argv[0], argv.slice(1), { timeoutMs: DAY_MS });
      // 24: files vanished while copying — the application was not stopped: not a complete copy.
      if (copy.code !== 0) throw new Error(`copy of '${app.dataDir}' onto the dataset failed: ${describeFailure(['rsync', ...RSYNC_COPY], copy)}`);
      const check = await fx.run('rsync', [...RSYNC_CHECK, src, dst], { timeoutMs: DAY_MS });
      if (check.code !== 0) throw new Error(`verifying the copy of '${app.dataDir}' failed: ${describeFailure(['rsync', ...RSYNC_CHECK], check)}`);
      const diffs = check.stdout.split('\n').filter((l) => l.trim() !== '');
      if (diffs.length > 0) throw new Error(`the copy of '${app.dataDir}' differs from the original (${diffs.length} entries, first: ${diffs[0].slice(0, 200)})`);
      await fx.run('sync', ['-f', staging]);
      renameSync(staging, target);
      await fx.run('sync', ['-f', mountPoint]);
      fx.log(`migrated '${app.dataDir}' onto the dataset (${target})`);
      return;
    }
    case 'init-empty': {
      rmSync(staging, { recursive: true, force: true });
      mkdirSync(staging, { mode: 0o755 });
      if (existsSync(app.dataDir)) {
        const st = lstatSync(app.dataDir);
        chownSync(staging, st.uid, st.gid);
        chmodSync(staging, st.mode & 0o7777);
      }
      renameSync(staging, target);
      await fx.run('sync', ['-f', mountPoint]);
      return;
    }
    case 'set-aside': {
      const st = lstatSync(app.dataDir);
      const aside = asideName(app.dataDir, fx.now());
      renameSync(app.dataDir, aside);
      mkdirSync(app.dataDir, { mode: 0o700 });
      chownSync(app.dataDir, st.uid, st.gid);
      fx.log(`kept the old data directory as '${aside}'`);
      return;
    }
    case 'make-dir':
      mkdirSync(app.dataDir, { recursive: true, mode: 0o700 });
      return;
    case 'bind': {
      const r = await fx.run('mount', ['--bind', target, app.dataDir]);
      if (r.code !== 0) throw new Error(`bind mount of the dataset onto '${app.dataDir}' failed: ${describeFailure(['mount', '--bind'], r)}`);
      return;
    }
  }
}

/** Stop serving from the dataset: the bind mount goes; the data stays on the dataset. */
export async function unbind(app: AppDefinition, fx: MigrationEffects, mounts: MountEntry[]): Promise<void> {
  if (!mountAt(mounts, app.dataDir)) return;
  const r = await fx.run('umount', [app.dataDir]);
  if (r.code !== 0) throw new Error(`unmounting the application's data directory '${app.dataDir}' failed: ${describeFailure(['umount'], r)}`);
}
