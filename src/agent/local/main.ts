// dataset-local: what this node sees of the dataset volumes attached to it
// (devices, signatures, mounts, holders) as dvm.node-state/1. The listing
// comes from --volumes (a dvm.volumes/1 file) or the store's last listing.
import { readdirSync, readFileSync } from 'node:fs';
import { parser, handledByYargs } from '../../lib/cli.js';
import { parseDocument, writeDocument } from '../../lib/io.js';
import { environmentError, usageError } from '../../lib/errors.js';
import type { Volume, VolumesDoc } from '../docs.js';
import type { NodePlane } from '../backend/types.js';
import { openBackend } from '../backend/registry.js';
import { openStore } from '../store/open.js';
import { commandRunner, realHost, withBoundaries } from '../apply/index.js';
import { discoverLocal } from './discover.js';

export const DEFAULT_MOUNT_ROOT = '/var/lib/dvm/mounts';

const USAGE = `Usage: $0 --node N [--backend B] [--volumes V | --store S] [--mount-root DIR] [--apps-dir DIR]

Prints dvm.node-state/1: for each dataset volume the listing shows attached to
node N, its local device (found, or connected, through the backend's node
plane), whether it is blank (first and last MiB read, blkid -p finds nothing,
no dvm or LVM label), its filesystem, mount and holders; and the mounts under
the mount root that belong to no dataset (reported, never touched).
Without --backend no device can be found: only the stray mounts are listed.

Examples:
  dataset-local --node n1 --backend loopback:/srv/lb --volumes volumes.json
  dataset-local --node n2 --backend loopback:/srv/lb --store /var/lib/dvm/store --mount-root /srv/data`;

function appNames(dir: string | undefined): string[] {
  if (!dir) return [];
  try {
    return readdirSync(dir).filter((f) => /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}\.json$/.test(f)).map((f) => f.slice(0, -5)).sort();
  } catch {
    return [];
  }
}

const noDevices: NodePlane = {
  findDevice: async () => null,
  verifyDevice: async () => 'no backend given',
  refresh: async () => null,
  release: async () => {},
};

export async function main(argv: string[]): Promise<void> {
  const args = await (await parser('dataset-local', argv, USAGE))
    .option('node', { type: 'string', requiresArg: true, demandOption: true, describe: 'this node' })
    .option('backend', { type: 'string', requiresArg: true, describe: 'backend spec (memory, loopback:DIR, ...)' })
    .option('volumes', { type: 'string', requiresArg: true, describe: 'dvm.volumes/1 file (the listing)' })
    .option('store', { type: 'string', requiresArg: true, describe: "read the credentialed node's last listing from the store" })
    .option('mount-root', { type: 'string', requiresArg: true, default: DEFAULT_MOUNT_ROOT, describe: 'where datasets are mounted' })
    .option('apps-dir', { type: 'string', requiresArg: true, describe: 'application definitions (NAME.json)' })
    .conflicts('volumes', 'store')
    .check((a) => {
      if (a._.length > 0) throw new Error(`unexpected argument '${a._[0]}'`);
      return true;
    })
    .parseAsync();
  if (handledByYargs(args)) return;
  const node = String(args.node);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(node)) throw usageError('invalid node name', node, 'expected [A-Za-z0-9][A-Za-z0-9_.-]{0,62}');
  const mountRoot = String(args['mount-root']);
  if (!/^(\/[A-Za-z0-9+_.@:=,-]{1,255}){1,64}$/.test(mountRoot) || mountRoot.split('/').some((p) => p === '.' || p === '..')) {
    throw usageError('invalid mount root', mountRoot, 'expected an absolute path without . or .. components');
  }

  let volumes: Volume[] = [];
  if (args.volumes !== undefined) {
    const file = String(args.volumes);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw environmentError('cannot read', file, (e as NodeJS.ErrnoException).code ?? (e as Error).message);
    }
    volumes = parseDocument<VolumesDoc>(text, ['dvm.volumes/1'], file).volumes;
  } else if (args.store !== undefined) {
    const store = await openStore(String(args.store));
    try {
      volumes = (await store.readListing())?.volumes ?? [];
    } finally {
      await store.close();
    }
  }

  const backend = args.backend === undefined ? null : withBoundaries(await openBackend(String(args.backend), { node, credentialed: false }));
  try {
    const state = await discoverLocal({
      node,
      mountRoot,
      volumes: backend ? volumes.filter((v) => backend.volumeIdPattern.test(v.id)) : [],
      nodePlane: backend?.node ?? noDevices,
      host: realHost(commandRunner()),
      apps: appNames(args['apps-dir'] === undefined ? undefined : String(args['apps-dir'])),
      now: () => new Date(),
    });
    await writeDocument(state);
  } finally {
    await backend?.close();
  }
}
