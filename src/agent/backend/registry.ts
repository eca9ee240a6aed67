// `--backend SPEC` → a Backend. A spec is `kind[:arg][?key=value&...]`:
//   memory[:NAME][?knobs]   in-process state; agents in one process naming the same NAME share it
//   loopback:DIR[?knobs]    sparse files and attachment records in DIR (must exist)
//   dvm:VG[?devs=&nodes=]   LVs of a dvm VG (src/agent/backends/dvm/)
//   openstack[?knobs]       Cinder + Nova (src/agent/backends/openstack/)
// Each backend reads its own knobs (docs/backends.md lists them). A bad spec
// is a usage error (exit 2); a missing directory or an absent backend is an
// environment error (exit 4). Backends load lazily, so a tool pays only for the
// one it uses.
import { environmentError, usageError } from '../../lib/errors.js';
import { Knobs } from './knobs.js';
import type { Backend, BackendOptions } from './types.js';

export type BackendKind = 'memory' | 'loopback' | 'dvm' | 'openstack';

export interface BackendSpec {
  /** As given, for messages and `dvm.volumes/1`'s `backend`. */
  text: string;
  kind: BackendKind;
  /** What follows `kind:` (memory: state name, loopback: directory, dvm: VG), or null. */
  arg: string | null;
  knobs: Knobs;
}

/** What each backend folder's index.ts exports. */
export interface BackendModule {
  openFromSpec(spec: BackendSpec, opts: BackendOptions): Promise<Backend>;
}

interface KindEntry {
  arg: 'none' | 'optional' | 'required';
  /** What the argument is, for messages. */
  argName?: string;
  /** Null: a placeholder for a backend whose folder has not landed yet. */
  load: (() => Promise<BackendModule>) | null;
  /** Where it comes from, for the message when it is not built. */
  folder: string;
}

const KINDS: Record<BackendKind, KindEntry> = {
  memory: { arg: 'optional', argName: 'a state name', load: () => import('../backends/memory/index.js'), folder: 'src/agent/backends/memory/' },
  loopback: { arg: 'required', argName: 'a directory', load: () => import('../backends/loopback/index.js'), folder: 'src/agent/backends/loopback/' },
  dvm: { arg: 'required', argName: 'a volume group name', load: () => import('../backends/dvm/index.js'), folder: 'src/agent/backends/dvm/' },
  openstack: { arg: 'none', load: () => import('../backends/openstack/index.js'), folder: 'src/agent/backends/openstack/' },
};

export const backendKinds = (): BackendKind[] => Object.keys(KINDS) as BackendKind[];

const KNOB_KEY = /^[a-z][a-z0-9_]{0,31}$/;

/** Parses a spec's syntax (not its knobs' values: each backend checks its own). Throws exit 2. */
export function parseBackendSpec(text: string): BackendSpec {
  const bad = (cause: string) => usageError('invalid backend', text, cause);
  if (typeof text !== 'string' || text === '') throw bad(`expected one of ${backendKinds().join(', ')}`);
  if (text.length > 4096 || /[\0\n\r]/.test(text)) throw bad('too long or not one line');
  const q = text.indexOf('?');
  const head = q < 0 ? text : text.slice(0, q);
  const query = q < 0 ? '' : text.slice(q + 1);
  const colon = head.indexOf(':');
  const kind = (colon < 0 ? head : head.slice(0, colon)) as BackendKind;
  const arg = colon < 0 ? null : head.slice(colon + 1);
  const entry = Object.hasOwn(KINDS, kind) ? KINDS[kind] : undefined;
  if (!entry) throw bad(`unknown backend kind '${kind}' (expected one of ${backendKinds().join(', ')})`);
  if (entry.arg === 'none' && arg !== null) throw bad(`'${kind}' takes no ':' argument`);
  if (entry.arg === 'required' && !arg) throw bad(`'${kind}' needs ${entry.argName}: ${kind}:${kind === 'loopback' ? 'DIR' : 'VG'}`);
  if (arg === '') throw bad(`empty ${entry.argName} after '${kind}:'`);
  const values: Record<string, string> = {};
  if (query !== '') {
    for (const pair of query.split('&')) {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      if (!KNOB_KEY.test(key)) throw bad(`knob '${pair}' is not key=value with a lower-case key`);
      if (Object.hasOwn(values, key)) throw bad(`knob '${key}' given twice`);
      values[key] = eq < 0 ? 'yes' : pair.slice(eq + 1);
    }
  }
  return { text, kind, arg, knobs: new Knobs(text, values) };
}

/**
 * Opens the backend a spec names. Bad spec or knob: exit 2; a missing
 * directory, an unavailable backend, missing credentials: exit 4.
 */
export async function openBackend(spec: string | BackendSpec, opts: BackendOptions): Promise<Backend> {
  const parsed = typeof spec === 'string' ? parseBackendSpec(spec) : spec;
  const entry = KINDS[parsed.kind];
  if (!entry.load) throw environmentError('backend', parsed.text, `'${parsed.kind}' is not built into this version (it comes from ${entry.folder})`);
  const mod = await entry.load();
  return mod.openFromSpec(parsed, opts);
}
