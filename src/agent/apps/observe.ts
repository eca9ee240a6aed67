// What a node can see of an application on a dataset: whether its data
// directory is served from the dataset (a bind mount of the dataset's
// subdirectory), and whether this agent started it (a record in a runtime
// directory on tmpfs, so a reboot forgets it and the application is started
// again). The planner decides from these facts alone.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LocalDevice } from '../docs.js';
import type { MountEntry } from '../apply/types.js';
import type { AppSet } from './definition.js';
import { mountAt } from './migrate.js';

export const runtimeDirFor = (node: string) => `/run/dvm/${node}/apps`;

export interface StartedRecord {
  app: string;
  data_dir: string;
  started_at: string;
}

/**
 * The lock a copy holds while it runs: an agent killed mid-copy leaves its
 * rsync running; the next copy waits for it instead of racing it into the
 * same staging directory (and the rename under its feet).
 */
export function copyLockFor(dir: string, volumeId: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return path.join(dir, `${volumeId}.copy.lock`);
}

const recordPath = (dir: string, volumeId: string) => path.join(dir, `${volumeId}.json`);

export function readStarted(dir: string, volumeId: string): StartedRecord | null {
  try {
    const r = JSON.parse(readFileSync(recordPath(dir, volumeId), 'utf8')) as StartedRecord;
    return typeof r.app === 'string' && typeof r.data_dir === 'string' ? r : null;
  } catch {
    return null;
  }
}

export function writeStarted(dir: string, volumeId: string, rec: StartedRecord): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const p = recordPath(dir, volumeId);
  writeFileSync(p + '.tmp', JSON.stringify(rec) + '\n', { mode: 0o600 });
  renameSync(p + '.tmp', p);
}

export function clearStarted(dir: string, volumeId: string): void {
  rmSync(recordPath(dir, volumeId), { force: true });
}

/** The whole-filesystem mount of a device (the dataset's own mount, not a bind). */
export function datasetMount(mounts: MountEntry[], dev: LocalDevice): MountEntry | null {
  if (!dev.mount) return null;
  const m = mountAt(mounts, dev.mount.path);
  return m && (m.root ?? '/') === '/' ? m : null;
}

/** Annotates each device with the application served from it or started on it, if any. */
export function observeApps(devices: Record<string, LocalDevice>, mounts: MountEntry[], set: AppSet, runtimeDir: string): void {
  for (const [volumeId, dev] of Object.entries(devices)) {
    const started = readStarted(runtimeDir, volumeId);
    const dm = datasetMount(mounts, dev);
    let served: string | null = null;
    if (dm) {
      for (const def of set.apps.values()) {
        const at = mountAt(mounts, def.dataDir);
        if (at && at.devno === dm.devno && at.root === path.posix.join(dm.root ?? '/', def.subdir)) served = def.name;
      }
    }
    const name = served ?? started?.app ?? null;
    dev.app = name === null ? null : { name, served: served !== null, started: started !== null && started.app === name };
  }
}

