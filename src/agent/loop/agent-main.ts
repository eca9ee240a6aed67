// dataset-agent: keeps this node's datasets where the store's desired state
// says. A thin main: arguments, then the loop (agent.ts).
import { parser, handledByYargs } from '../../lib/cli.js';
import { usageError } from '../../lib/errors.js';
import { openStore, storeConnectOptions, withStoreOptions } from '../store/open.js';
import { openBackend } from '../backend/registry.js';
import { commandRunner, realHost, withBoundaries } from '../apply/index.js';
import { mountPath, nodeName } from '../cli/args.js';
import { CallCounter, countingBackend } from './counting.js';
import { runAgent } from './agent.js';

const USAGE = `Usage: $0 --store STORE --node N --backend B [--credentialed] [--mount-root DIR] [--apps-dir DIR] [--once]

Keeps the datasets of the store's desired state where it says, on this node:
each pass lists the backend (the credentialed node only, once), discovers the
local devices, plans, and runs this node's steps one at a time, then writes
each dataset's phase and reason to the store. It logs one line per step and
one per pass on stderr. SIGTERM finishes the current step, then exits.

Examples:
  dataset-agent --store /var/lib/dvm/store --node n1 --backend loopback:/srv/lb --credentialed
  dataset-agent --store /var/lib/dvm/store --node n2 --backend loopback:/srv/lb --once`;

export async function main(argv: string[]): Promise<void> {
  const args = await withStoreOptions(await parser('dataset-agent', argv, USAGE))
    .option('store', { type: 'string', requiresArg: true, describe: 'the store: a directory, or etcd:// endpoints and a prefix' })
    .option('node', { type: 'string', requiresArg: true, describe: "this node's name" })
    .option('backend', { type: 'string', requiresArg: true, describe: 'memory, loopback:DIR, dvm:VG, openstack' })
    .option('credentialed', { type: 'boolean', describe: 'campaign for the credentialed election and make the control calls while leading' })
    .option('mount-root', { type: 'string', requiresArg: true, default: '/var/lib/dvm/mnt', describe: 'every mount is under this directory' })
    .option('apps-dir', { type: 'string', requiresArg: true, describe: 'where applications are defined (NAME.json)' })
    .option('once', { type: 'boolean', describe: 'run one pass and exit (1 when a step failed)' })
    .check((a) => {
      if (a._.length > 0) throw new Error(`unexpected argument '${a._[0]}'`);
      return true;
    })
    .parseAsync();
  if (handledByYargs(args)) return;
  for (const k of ['store', 'node', 'backend'] as const)
    if (typeof args[k] !== 'string' || args[k] === '') throw usageError('usage', undefined, `--${k} is needed (see 'dataset-agent --help')`);
  const node = nodeName(String(args.node));
  const mountRoot = mountPath(String(args['mount-root']));
  const appsDir = args['apps-dir'] === undefined ? null : mountPath(String(args['apps-dir']));
  const credentialed = Boolean(args.credentialed);
  const spec = String(args.backend);
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${node} ${line}\n`);

  const store = await openStore(String(args.store), { create: true, etcd: storeConnectOptions(args as Record<string, unknown>) });
  try {
    const cluster = (await store.readDesired()).value.cluster;
    const raw = await openBackend(spec, { node, credentialed, cluster, log: () => {} });
    const counter = new CallCounter();
    const backend = withBoundaries(countingBackend(raw, counter));
    try {
      await runAgent({ node, credentialed, spec, store, backend, counter, host: realHost(commandRunner()), mountRoot, appsDir, once: Boolean(args.once), log });
    } finally {
      await backend.close();
    }
  } finally {
    await store.close();
  }
}
