// Applications are defined on each node by its administrator, one file per
// application in APPS_DIR (`NAME.json`, `dvm.app/1`). The desired state only
// names an application; what it runs comes from here, so writing the shared
// store never lets anyone run a command on a node.
import { lstatSync, readdirSync, readFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import { validate } from '../../lib/schema.js';

export const DEFAULT_APPS_DIR = '/etc/dvm/apps';
export const DEFAULT_SUBDIR = 'data';
export const DEFAULT_TIMEOUT_SECONDS = 120;

export interface AppDefinition {
  name: string;
  stop: string[];
  start: string[];
  dataDir: string;
  migrate: 'copy' | 'none';
  /** The directory on the dataset that holds the application's data. */
  subdir: string;
  timeoutMs: number;
}

interface AppDoc {
  format: 'dvm.app/1';
  stop: string[];
  start: string[];
  data_dir: string;
  migrate: 'copy' | 'none';
  subdir?: string;
  timeout_seconds?: number;
}

const APP_NAME = /^(?!\.{1,2}$)[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/;

/** Why a file or directory that defines commands run as root is not to be trusted, or null. */
export function unsafeOwnership(st: Stats): string | null {
  if (st.isSymbolicLink()) return 'is a symbolic link';
  if (st.uid !== 0 && st.uid !== process.getuid?.()) return `is owned by uid ${st.uid}`;
  if (st.mode & 0o022) return `is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  return null;
}

/** The outcome of loading one node's applications: the good ones, and a reason per bad one. */
export interface AppSet {
  dir: string;
  apps: Map<string, AppDefinition>;
  /** Application name (or file) → why it is not usable; shown on datasets that name it. */
  problems: Map<string, string>;
}

export function toDefinition(name: string, doc: AppDoc): AppDefinition {
  return {
    name,
    stop: doc.stop,
    start: doc.start,
    dataDir: doc.data_dir,
    migrate: doc.migrate,
    subdir: doc.subdir ?? DEFAULT_SUBDIR,
    timeoutMs: (doc.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
  };
}

/**
 * Reads APPS_DIR. A missing directory defines no application (not an error:
 * most nodes run none). A directory or file others can write is refused, as
 * is a definition that fails its schema; each refusal is kept as the reason
 * a dataset naming that application is blocked.
 */
export function loadApps(dir: string = DEFAULT_APPS_DIR): AppSet {
  const set: AppSet = { dir, apps: new Map(), problems: new Map() };
  let entries: string[];
  try {
    const st = lstatSync(dir);
    const bad = st.isDirectory() ? unsafeOwnership(st) : 'is not a directory';
    if (bad) {
      set.problems.set('*', `applications directory '${dir}' ${bad}`);
      return set;
    }
    entries = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return set;
    set.problems.set('*', `applications directory '${dir}': ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    return set;
  }
  for (const file of entries.sort()) {
    if (!file.endsWith('.json')) continue;
    const name = file.slice(0, -'.json'.length);
    const full = path.join(dir, file);
    if (!APP_NAME.test(name)) {
      set.problems.set(file, `application file '${full}': the name is not a valid application name`);
      continue;
    }
    try {
      const bad = unsafeOwnership(lstatSync(full));
      if (bad) throw new Error(bad);
      const doc = validate<AppDoc>('dvm.app/1', JSON.parse(readFileSync(full, 'utf8')), full);
      set.apps.set(name, toDefinition(name, doc));
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      set.problems.set(name, `application '${name}' (${full}): ${msg.replace(/\s+/g, ' ')}`);
    }
  }
  return set;
}

/** The reason a dataset naming `app` cannot be served on this node, or null. */
export function appProblem(set: AppSet, app: string): string | null {
  if (set.apps.has(app)) return null;
  return set.problems.get(app) ?? set.problems.get('*') ?? `application '${app}' is not defined on this node (no ${path.join(set.dir, app + '.json')})`;
}
