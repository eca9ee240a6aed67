// dataset: the operator's command. It only edits the desired state in the
// store (under the store's lock) and reads statuses; agents do the work.
import { parser, handledByYargs } from '../../lib/cli.js';
import { readStdinText, writeDocument, writeStdout } from '../../lib/io.js';
import { causeOf, failed, invalidInput, usageError } from '../../lib/errors.js';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { applyVolumeMap, MapError, parseVolumeMap } from '../apps/volume-map.js';
import { StoreConflict } from '../store/types.js';
import type { DatasetsDoc, DatasetStatus, Filesystem } from '../docs.js';
import { openStore, storeConnectOptions, withStoreOptions } from '../store/open.js';
import type { Store } from '../store/types.js';
import { appName, datasetName, fenceReason, metaPairs, mountPath, nodeName, sizeBytes, timeoutSeconds, volumeId } from './args.js';
import { fence, unfence } from './fence.js';
import * as change from './changes.js';
import { listText, nodesText, nodeViews, statusJson, statusText, views } from './views.js';
import { follow, followMany, type FollowItem } from './follow.js';
import type { Goal } from './progress.js';

const USAGE = `Usage: $0 --store STORE COMMAND ...

The operator's view of the datasets: named filesystems on block volumes that
the dataset agents keep where this says. Each command edits the desired state
in the store (a directory, or etcd:// endpoints) and returns; the agents
converge, and 'status' says where each dataset is and what it waits for.

Commands:
  create NAME --size SIZE [--fs ext4|xfs] [--node N] [--mount PATH] [--meta KEY=VALUE]...
                [--app APP] [--partition]
  adopt NAME --volume ID [--node N] [--mount PATH] [--fs ext4|xfs] [--app APP] [--partition]
                                an existing volume; its size is the volume's
  map --apply FILE [--node N]   a volume map {"svc/0": "VOLUME", "svc/1": {"volume": V, "node": N}}:
                                each unit's volume adopted for its service; a unit
                                left out is detached (its volume stays); --wait
                                follows every dataset the map changed
  grow NAME SIZE|+SIZE          online; never smaller
  shrink NAME SIZE              the only way a dataset shrinks (offline, ext4)
  move NAME --to N              to another node
  detach NAME                   attached nowhere (kept)
  destroy NAME                  the volume goes once nothing uses it
  list [--json]                 the desired state (--json: dvm.datasets/1)
  status [--json] [--wait [--timeout SECONDS]]
                                where each dataset is; --wait exits 0 when all
                                converged, 1 on timeout
  node fence NODE --yes [--reason TEXT]
                                declare a dead node gone (power it off or cut it
                                from the storage first): its volumes are detached
                                without its unmount, so moves off it proceed, and
                                its agent does nothing until unfenced; refused
                                (exit 1) while its agent runs
  node unfence NODE             lift the fence

Every changing command (create, adopt, map, grow, shrink, move, detach,
destroy) takes --wait [--timeout SECONDS]: it then follows the dataset (for
map: every dataset the map changed), printing each phase the agents reach
(unmounting on n1, detaching, attaching to n2, mounting on n2...) with the
elapsed time to stderr, and the dataset's final status to stdout (create and
adopt print only the id there, map its changes). Exit 0 when the change
arrived, 1 on timeout with the phase each is stuck in and why; the change
itself stands and the agents carry on.

Sizes as everywhere in dvm: 10G, 512M, +1G (binary units, a bare number is MiB).

Examples:
  dataset --store /var/lib/dvm/store create pg --size 10G --node n1
  dataset --store /var/lib/dvm/store move pg --to n2 --wait --timeout 300
  dataset --store /var/lib/dvm/store status --wait --timeout 120`;

const FS = ['ext4', 'xfs'] as const;

/** --wait and --timeout, on every changing command. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const waiting = (y: any) =>
  y
    .option('wait', { type: 'boolean', describe: 'follow the change until it arrived, printing each phase' })
    .option('timeout', { type: 'number', requiresArg: true, describe: 'seconds --wait waits (default 300)' });

function positional(args: { _: (string | number)[] }, count: number, names: string[]): string[] {
  const rest = args._.slice(1).map(String);
  if (rest.length < count) throw usageError('usage', undefined, `${args._[0]} needs ${names.slice(rest.length).join(' and ')} (see 'dataset --help')`);
  if (rest.length > count) throw usageError('usage', undefined, `unexpected argument '${rest[count]}' (see 'dataset --help')`);
  return rest;
}

/** etcds:// TLS options from the command line (set once parsed). */
let etcdOptions = {};

async function withStore<T>(spec: string, create: boolean, fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore(spec, { create, etcd: etcdOptions });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `dataset status`: every dataset, then every node (its liveness, whether it holds the keys, what it holds). */
async function printStatus(store: Store, json: boolean, desired?: DatasetsDoc, st?: Record<string, DatasetStatus>): Promise<void> {
  const doc = desired ?? (await store.readDesired()).value;
  const statuses = st ?? (await store.readStatuses());
  const [listing, nodes, leases, fences] = await Promise.all([store.readListing(), store.readNodes(), store.nodeLeases ? store.nodeLeases() : Promise.resolve({}), store.readFences()]);
  const nv = nodeViews(doc, listing, nodes, leases, fences);
  if (json) return writeDocument({ ...(statusJson(doc, statuses) as object), nodes: nv });
  return writeStdout(statusText(doc, statuses) + '\n' + nodesText(nv, new Date()));
}

async function waitConverged(store: Store, timeoutS: number, json: boolean): Promise<void> {
  const until = Date.now() + timeoutS * 1000;
  let wake: (() => void) | null = null;
  const stop = store.watch(() => wake?.());
  try {
    for (;;) {
      const desired = (await store.readDesired()).value;
      const statuses = await store.readStatuses();
      const v = Object.values(views(desired, statuses));
      const left = v.filter((x) => !x.converged);
      if (left.length === 0 || Date.now() >= until) {
        await printStatus(store, json, desired, statuses);
        if (left.length === 0) return;
        throw failed('status', store.describe, `${left.length} of ${v.length} datasets not converged after ${timeoutS} s (first: '${left[0].name}' ${left[0].waiting})`);
      }
      // A change in the store wakes us; the poll covers stores that cannot watch.
      await Promise.race([new Promise<void>((r) => (wake = r)), sleep(Math.min(1000, Math.max(0, until - Date.now())))]);
      wake = null;
    }
  } finally {
    stop();
  }
}

/** Follows `name` after `what` changed it (--wait); its final status to stdout unless `idOnly`. */
async function afterChange(s: Store, name: string, what: string, goal: Goal, timeoutS: number, idOnly: boolean): Promise<void> {
  const doc = (await s.readDesired()).value;
  const id = Object.keys(doc.datasets).find((k) => doc.datasets[k].name === name);
  if (id === undefined) return; // already gone (a destroy of a dataset with no volume)
  try {
    await follow({ store: s, id, name, what, goal, timeoutS, say: (l) => process.stderr.write(`dataset: ${l}\n`) });
  } finally {
    if (!idOnly) {
      const now = (await s.readDesired()).value;
      const statuses = await s.readStatuses();
      if (now.datasets[id]) await writeStdout(statusText({ ...now, datasets: { [id]: now.datasets[id] } }, statuses));
    }
  }
}

export async function main(argv: string[]): Promise<void> {
  const args = await withStoreOptions(await parser('dataset', argv, USAGE))
    .option('store', { type: 'string', requiresArg: true, describe: 'the store: a directory, or etcd:// endpoints and a prefix' })
    .command('create', 'make a dataset', (y) =>
      y
        .option('size', { type: 'string', requiresArg: true, describe: 'SIZE (10G, 512M)' })
        .option('fs', { type: 'string', choices: FS, default: 'ext4', describe: 'filesystem' })
        .option('node', { type: 'string', requiresArg: true, describe: 'the node to mount it on (none: attached nowhere)' })
        .option('mount', { type: 'string', requiresArg: true, describe: "absolute mount point under the node's mount root (default <mount root>/NAME)" })
        .option('meta', { type: 'string', array: true, requiresArg: true, describe: 'KEY=VALUE label copied into the volume metadata (repeatable)' })
        .option('app', { type: 'string', requiresArg: true, describe: 'the application served from it (defined on each node in APPS_DIR/APP.json)' })
        .option('partition', { type: 'boolean', describe: 'give the volume one partition and put the filesystem there' })
        .option('wait', { type: 'boolean', describe: 'follow the change until it arrived, printing each phase' })
        .option('timeout', { type: 'number', requiresArg: true, describe: 'seconds --wait waits (default 300)' }),
    )
    .command('adopt', 'make a dataset of an existing volume', (y) =>
      y
        .option('volume', { type: 'string', requiresArg: true, describe: 'backend volume id' })
        .option('fs', { type: 'string', choices: FS, default: 'ext4', describe: 'filesystem when the volume is blank' })
        .option('node', { type: 'string', requiresArg: true, describe: 'the node to mount it on' })
        .option('mount', { type: 'string', requiresArg: true, describe: 'absolute mount point' })
        .option('app', { type: 'string', requiresArg: true, describe: 'the application served from it (defined on each node)' })
        .option('partition', { type: 'boolean', describe: 'when blank: one partition, the filesystem in it' })
        .option('wait', { type: 'boolean', describe: 'follow the change until it arrived, printing each phase' })
        .option('timeout', { type: 'number', requiresArg: true, describe: 'seconds --wait waits (default 300)' }),
    )
    .command('map', "apply a service manager's volume map ({unit: volume}, JSON or YAML)", (y) =>
      y
        .option('apply', { type: 'string', requiresArg: true, describe: "FILE, or '-' for stdin" })
        .option('node', { type: 'string', requiresArg: true, describe: 'the node of units the map gives as unit: volume' })
        .option('wait', { type: 'boolean', describe: 'follow every dataset the map changed until each arrived, printing each phase' })
        .option('timeout', { type: 'number', requiresArg: true, describe: 'seconds --wait waits (default 300)' }),
    )
    .command('grow', 'grow to SIZE or by +SIZE', waiting)
    .command('shrink', 'shrink to SIZE (offline, ext4 only)', waiting)
    .command('move', 'mount it on another node', (y) => waiting(y.option('to', { type: 'string', requiresArg: true, describe: 'the node' })))
    .command('detach', 'attach it nowhere (kept)', waiting)
    .command('destroy', 'destroy it and its volume', waiting)
    .command('list', 'print the desired state', (y) => y.option('json', { type: 'boolean', describe: 'print dvm.datasets/1' }))
    .command('node', 'fence NODE --yes [--reason TEXT] | unfence NODE: declare a dead node gone, or lift that', (y) =>
      y
        .option('yes', { type: 'boolean', describe: 'fence: confirm the node is powered off or cut from the storage' })
        .option('reason', { type: 'string', requiresArg: true, describe: 'fence: why, kept with the fence and shown by status' }),
    )
    .command('status', 'where each dataset is and what it waits for', (y) =>
      y
        .option('json', { type: 'boolean', describe: 'print dvm.dataset-statuses/1' })
        .option('wait', { type: 'boolean', describe: 'wait until every dataset has converged' })
        .option('timeout', { type: 'number', requiresArg: true, describe: 'seconds --wait waits (default 300)' }),
    )
    .demandCommand(1, 'a command is needed')
    .parserConfiguration({ 'parse-positional-numbers': false })
    .parseAsync();
  if (handledByYargs(args)) return;
  if (typeof args.store !== 'string' || args.store === '') throw usageError('usage', undefined, "--store STORE is needed (see 'dataset --help')");
  const a = args as unknown as Record<string, unknown> & { _: (string | number)[]; store: string };
  etcdOptions = storeConnectOptions(a);
  const cmd = String(a._[0]);
  const now = () => new Date();
  const opt = (k: string) => (a[k] === undefined ? null : String(a[k]));
  const ARITY: Record<string, string[]> = { node: ['fence|unfence', 'NODE'], map: [], create: ['NAME'], adopt: ['NAME'], grow: ['NAME', 'SIZE'], shrink: ['NAME', 'SIZE'], move: ['NAME'], detach: ['NAME'], destroy: ['NAME'], list: [], status: [] };
  const want = ARITY[cmd] ?? [];
  const [NAME, SIZE] = positional(a, want.length, want);
  Object.assign(a, { NAME, SIZE });
  if (a.timeout !== undefined && !a.wait) throw usageError('usage', undefined, "--timeout goes with --wait (see 'dataset --help')");
  const waitS = a.timeout === undefined ? 300 : timeoutSeconds(a.timeout);
  /** After the change: follow it when --wait was given. */
  const then = (s: Store, name: string, goal: Goal, idOnly = false) => (a.wait ? afterChange(s, name, cmd, goal, waitS, idOnly) : Promise.resolve());

  switch (cmd) {
    case 'create': {
      const name = datasetName(String(a.NAME));
      if (a.size === undefined) throw usageError('usage', undefined, "create needs --size SIZE (see 'dataset --help')");
      const size = sizeBytes(String(a.size)).bytes;
      const node = opt('node') === null ? null : nodeName(opt('node')!);
      const mount = opt('mount') === null ? null : mountPath(opt('mount')!);
      const meta = metaPairs(((a.meta as string[] | undefined) ?? []).map(String));
      const fs = String(a.fs) as Filesystem;
      const app = opt('app') === null ? undefined : appName(opt('app')!);
      const partition = Boolean(a.partition);
      let id = '';
      await withStore(a.store, true, async (s) => {
        await s.updateDesired((d) => {
          const next = change.create(d, { name, size, filesystem: fs, node, mount, meta, app, partition }, now());
          id = Object.keys(next.datasets).find((k) => !(k in d.datasets))!;
          return next;
        });
        await writeStdout(`${id}\n`);
        await then(s, name, { kind: 'converged', node: node ?? undefined }, true);
      });
      return;
    }
    case 'adopt': {
      const name = datasetName(String(a.NAME));
      if (a.volume === undefined) throw usageError('usage', undefined, "adopt needs --volume ID (see 'dataset --help')");
      const volume = volumeId(String(a.volume));
      const node = opt('node') === null ? null : nodeName(opt('node')!);
      const mount = opt('mount') === null ? null : mountPath(opt('mount')!);
      const fs = String(a.fs) as Filesystem;
      const app = opt('app') === null ? undefined : appName(opt('app')!);
      const partition = Boolean(a.partition);
      let id = '';
      await withStore(a.store, true, async (s) => {
        const listing = await s.readListing();
        await s.updateDesired((d) => {
          const next = change.adopt(d, listing, { name, volume, filesystem: fs, node, mount, app, partition }, now());
          id = Object.keys(next.datasets).find((k) => !(k in d.datasets))!;
          return next;
        });
        await writeStdout(`${id}\n`);
        await then(s, name, { kind: 'converged', node: node ?? undefined }, true);
      });
      return;
    }
    case 'map': {
      if (a.apply === undefined) throw usageError('usage', undefined, "map needs --apply FILE (see 'dataset --help')");
      const file = String(a.apply);
      let text: string;
      try {
        text = file === '-' ? await readStdinText() : readFileSync(file, 'utf8');
      } catch (e) {
        throw failed('cannot read volume map', file, causeOf(e));
      }
      let map;
      try {
        map = parseVolumeMap(text, opt('node') === null ? null : nodeName(opt('node')!));
      } catch (e) {
        if (e instanceof MapError) throw invalidInput('invalid volume map', file, e.message);
        throw e;
      }
      let changes: string[] = [];
      let touched: FollowItem[] = [];
      await withStore(a.store, false, async (s) => {
        const listing = await s.readListing();
        await s.updateDesired((d) => {
          try {
            const r = applyVolumeMap({ doc: d, map, volumes: listing?.volumes ?? [], now: change.nextChanged(now()), newId: randomUUID });
            changes = r.changes;
            touched = change.touchedBy(d, r.doc);
            return r.doc;
          } catch (e) {
            if (e instanceof MapError) throw new StoreConflict(e.message);
            throw e;
          }
        });
        await writeStdout(changes.map((c) => c + '\n').join('') || 'no change\n');
        if (a.wait) await followMany({ store: s, what: 'map', object: file === '-' ? 'stdin' : file, items: touched, timeoutS: waitS, say: (l) => process.stderr.write(`dataset: ${l}\n`) });
      });
      return;
    }
    case 'grow':
    case 'shrink': {
      const name = datasetName(String(a.NAME));
      const size = sizeBytes(String(a.SIZE), { allowPlus: cmd === 'grow' });
      await withStore(a.store, false, async (s) => {
        await s.updateDesired((d) => (cmd === 'grow' ? change.grow(d, name, size.bytes, size.relative, now()) : change.shrink(d, name, size.bytes, now())));
        await then(s, name, { kind: 'converged' });
      });
      return;
    }
    case 'move': {
      const name = datasetName(String(a.NAME));
      if (a.to === undefined) throw usageError('usage', undefined, "move needs --to NODE (see 'dataset --help')");
      const to = nodeName(String(a.to));
      await withStore(a.store, false, async (s) => {
        await s.updateDesired((d) => change.move(d, name, to, now()));
        await then(s, name, { kind: 'converged', node: to });
      });
      return;
    }
    case 'detach':
    case 'destroy': {
      const name = datasetName(String(a.NAME));
      await withStore(a.store, false, async (s) => {
        await s.updateDesired((d) => (cmd === 'detach' ? change.detach(d, name, now()) : change.destroy(d, name, now())));
        await then(s, name, cmd === 'detach' ? { kind: 'converged' } : { kind: 'gone' });
      });
      return;
    }
    case 'list': {
      await withStore(a.store, false, async (s) => {
        const doc = (await s.readDesired()).value;
        await (a.json ? writeDocument(doc) : writeStdout(listText(doc)));
      });
      return;
    }
    case 'node': {
      const action = String(a.NAME);
      const node = nodeName(String(a.SIZE));
      if (action !== 'fence' && action !== 'unfence') throw usageError('usage', undefined, `node takes fence or unfence, not '${action}' (see 'dataset --help')`);
      if (action === 'unfence' && (a.yes !== undefined || a.reason !== undefined)) throw usageError('usage', undefined, "--yes and --reason go with 'node fence' (see 'dataset --help')");
      if (action === 'fence' && !a.yes) {
        throw usageError('usage', undefined, `node fence ${node} needs --yes: its volumes are then detached without its unmount; power it off or cut it from the storage first`);
      }
      const reason = a.reason === undefined ? null : fenceReason(a.reason);
      await withStore(a.store, false, async (s) => writeStdout(`${action === 'fence' ? await fence(s, node, reason, now()) : await unfence(s, node)}
`));
      return;
    }
    case 'status': {
      const timeout = waitS;
      await withStore(a.store, false, async (s) => {
        if (a.wait) return waitConverged(s, timeout, Boolean(a.json));
        await printStatus(s, Boolean(a.json));
      });
      return;
    }
    default:
      throw usageError('unknown command', cmd, "see 'dataset --help'");
  }
}
