// A loopback directory's files: DIR/volumes/<id>.img (sparse, its size is the
// volume's size) and DIR/volumes/<id>.json (the record: name, metadata with
// the dataset and cluster ids, the attached node). A volume exists exactly
// when its record does; records are replaced atomically (write, fsync,
// rename, fsync the directory). Snapshots: DIR/snapshots/<sid>.img + .json.
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { BackendError } from '../../backend/types.js';

export const LOOPBACK_ID = /^lb-[0-9a-f]{16}$/;
export const SNAPSHOT_ID = /^lbs-[0-9a-f]{16}$/;

export interface VolumeRecord {
  format: 'dvm.loopback-volume/1';
  id: string;
  name: string;
  metadata: Record<string, string>;
  attached: string | null;
  created_at: string;
}

export interface SnapshotRecord {
  format: 'dvm.loopback-snapshot/1';
  id: string;
  volume: string;
  name: string;
  size: number;
  created_at: string;
}

export class LoopbackFiles {
  readonly volumes: string;
  readonly snapshots: string;
  readonly lockFile: string;

  /** `dir` is realpath'd already: image paths must equal what backing_file shows. */
  constructor(readonly dir: string) {
    this.volumes = path.join(dir, 'volumes');
    this.snapshots = path.join(dir, 'snapshots');
    this.lockFile = path.join(dir, '.lock');
  }

  image = (id: string) => path.join(this.volumes, `${id}.img`);
  record = (id: string) => path.join(this.volumes, `${id}.json`);
  snapImage = (sid: string) => path.join(this.snapshots, `${sid}.img`);
  snapRecord = (sid: string) => path.join(this.snapshots, `${sid}.json`);

  /** The record, or null when the volume does not exist; a damaged record throws (unavailable). */
  read(id: string): VolumeRecord | null {
    return readJson<VolumeRecord>(this.record(id), 'dvm.loopback-volume/1');
  }

  readSnap(sid: string): SnapshotRecord | null {
    return readJson<SnapshotRecord>(this.snapRecord(sid), 'dvm.loopback-snapshot/1');
  }

  /** Every volume id with a record, sorted. */
  ids(): string[] {
    return readdirSync(this.volumes)
      .filter((f) => f.endsWith('.json') && LOOPBACK_ID.test(f.slice(0, -5)))
      .map((f) => f.slice(0, -5))
      .sort();
  }

  snapIds(): string[] {
    return readdirSync(this.snapshots)
      .filter((f) => f.endsWith('.json') && SNAPSHOT_ID.test(f.slice(0, -5)))
      .map((f) => f.slice(0, -5))
      .sort();
  }

  /**
   * Files an interrupted call left (call under the lock only, when no call
   * is half done): an image or snapshot copy with no record (a create or
   * snapshot killed before its record, a destroy killed after it), a record's
   * temporary file. An image a loop device still uses is kept.
   */
  sweep(inUse: (image: string) => boolean): string[] {
    const removed: string[] = [];
    for (const [dir, pattern] of [[this.volumes, LOOPBACK_ID], [this.snapshots, SNAPSHOT_ID]] as const) {
      for (const f of readdirSync(dir)) {
        const full = path.join(dir, f);
        const tmp = /\.json\.tmp-\d+$/.test(f);
        const orphan = f.endsWith('.img') && pattern.test(f.slice(0, -4)) && !existsSync(path.join(dir, `${f.slice(0, -4)}.json`)) && !inUse(full);
        if (!tmp && !orphan) continue;
        rmSync(full, { force: true });
        removed.push(f);
      }
    }
    return removed;
  }

  /** The image's size in bytes, or null when it is missing. */
  size(id: string): number | null {
    try {
      return statSync(this.image(id)).size;
    } catch {
      return null;
    }
  }
}

function readJson<T extends { format: string }>(file: string, format: string): T | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  // A damaged record is an error, never "no volume": a listing that left a
  // volume out would let the planner make a second one for its dataset.
  let doc: T | null = null;
  try {
    doc = JSON.parse(text) as T;
  } catch (e) {
    throw new BackendError('unavailable', `record '${file}' is damaged (${(e as Error).message}): repair or remove it by hand`);
  }
  if (!doc || doc.format !== format) throw new BackendError('unavailable', `record '${file}' is not a ${format} document: repair or remove it by hand`);
  return doc;
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Write, fsync, rename over, fsync the directory: a reader sees the old record or the new one. */
export function writeAtomic(file: string, doc: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(doc, null, 1) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}
