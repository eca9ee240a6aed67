// dataset-volumes: the backend's volumes as dvm.volumes/1 (credentialed: it
// makes the control plane's list call). The agent makes the same listing
// once per pass and shares it through the store.
import { hostname } from 'node:os';
import { parser, handledByYargs } from '../../lib/cli.js';
import { writeDocument } from '../../lib/io.js';
import { environmentError, usageError } from '../../lib/errors.js';
import { validate } from '../../lib/schema.js';
import { openBackend } from '../backend/registry.js';
import type { VolumesDoc } from '../docs.js';
import { nodeName } from './args.js';

const USAGE = `Usage: $0 --backend B [--node N]

Lists the backend's volumes (dvm.volumes/1 on stdout): per volume its id, the
dataset id its metadata carries, name, size, status, attached node and
metadata, plus the backend's limits. Needs the backend's credentials.

Examples:
  dataset-volumes --backend loopback:/srv/lb
  dataset-volumes --backend memory | jq '.volumes[].id'`;

export async function main(argv: string[]): Promise<void> {
  const args = await (await parser('dataset-volumes', argv, USAGE))
    .option('backend', { type: 'string', requiresArg: true, describe: 'memory, loopback:DIR, dvm:VG, openstack' })
    .option('node', { type: 'string', requiresArg: true, describe: 'the node listing (default: the host name)' })
    .check((a) => {
      if (a._.length > 0) throw new Error(`unexpected argument '${a._[0]}'`);
      return true;
    })
    .parseAsync();
  if (handledByYargs(args)) return;
  if (typeof args.backend !== 'string' || args.backend === '') throw usageError('usage', undefined, "--backend is needed (see 'dataset-volumes --help')");
  const node = nodeName(args.node === undefined ? (hostname().split('.')[0] || 'localhost') : String(args.node));
  const backend = await openBackend(args.backend, { node, credentialed: true });
  try {
    if (!backend.control) throw environmentError('backend', args.backend, 'no control plane (credentials missing)');
    const limits = await backend.control.limits();
    const volumes = await backend.control.list();
    const doc: VolumesDoc = { format: 'dvm.volumes/1', backend: args.backend, listed_at: new Date().toISOString(), listed_by: node, volumes, limits };
    await writeDocument(validate('dvm.volumes/1', doc, 'the listing'));
  } finally {
    await backend.close();
  }
}
