// dataset-apply: runs this node's steps of a dvm.dataset-plan/1 (stdin) and
// prints dvm.dataset-result/1. Markers and records go to the store; control
// steps need --credentialed and the credentialed election (the store's).
import { parser, handledByYargs } from '../../lib/cli.js';
import { readDocument, writeDocument } from '../../lib/io.js';
import { environmentError, failed, invalidInput, usageError } from '../../lib/errors.js';
import type { PlanDoc } from '../docs.js';
import type { Leadership, Store } from '../store/types.js';
import { openBackend } from '../backend/registry.js';
import { openStore } from '../store/open.js';
import { apply } from './apply.js';
import { commandRunner } from './runner.js';
import { realHost } from './host.js';
import { withBoundaries } from '../boundary.js';

const DEFAULT_MOUNT_ROOT = '/var/lib/dvm/mounts';

const USAGE = `Usage: $0 --node N --backend B --store S [--credentialed] [--mount-root DIR] [--election-timeout SECONDS] < PLAN

Runs the steps of a dvm.dataset-plan/1 that this node runs (each once; the
next plan re-derives whatever is left) and prints dvm.dataset-result/1.
Destructive steps (mkfs, shrink, release, detach, destroy) re-check just
before acting: the device's identity, that nothing mounts or holds it, the
store's records and, for control steps, the credentialed election.
Exit 0 when every step succeeded, 1 when one failed (the result says why).

Examples:
  dataset-plan --node n1 ... | dataset-apply --node n1 --backend loopback:/srv/lb --store /var/lib/dvm/store
  dataset-apply --node c --credentialed --backend loopback:/srv/lb --store /var/lib/dvm/store < plan.json`;

export async function main(argv: string[]): Promise<void> {
  const args = await (await parser('dataset-apply', argv, USAGE))
    .option('node', { type: 'string', requiresArg: true, demandOption: true, describe: 'this node' })
    .option('backend', { type: 'string', requiresArg: true, demandOption: true, describe: 'backend spec' })
    .option('store', { type: 'string', requiresArg: true, demandOption: true, describe: 'the store (markers, records, the election)' })
    .option('credentialed', { type: 'boolean', describe: 'run control steps (campaigns for the credentialed election)' })
    .option('mount-root', { type: 'string', requiresArg: true, default: DEFAULT_MOUNT_ROOT, describe: 'where datasets are mounted' })
    .option('election-timeout', { type: 'number', requiresArg: true, default: 10, describe: 'seconds to wait for the credentialed election' })
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

  const p = await readDocument<PlanDoc>(['dvm.dataset-plan/1']);
  if (p.node !== node) throw invalidInput('invalid input', 'stdin', `the plan is node '${p.node}''s, not '${node}''s`);
  const credentialed = Boolean(args.credentialed);
  if (p.steps.some((s) => s.runs_on === 'credentialed') && !credentialed) throw usageError('control steps', 'stdin', 'the plan has credentialed steps: run with --credentialed');

  const store: Store = await openStore(String(args.store));
  let leadership: Leadership | null = null;
  const backend = withBoundaries(await openBackend(String(args.backend), { node, credentialed }));
  try {
    for (const s of p.steps) {
      if (s.volume !== null && !backend.volumeIdPattern.test(s.volume)) throw invalidInput('invalid input', 'stdin', `'${s.volume}' is not a volume id of backend '${String(args.backend)}'`);
    }
    if (credentialed) {
      leadership = await store.campaign(node);
      const timeout = Number(args['election-timeout']) * 1000;
      let timer: NodeJS.Timeout | undefined;
      const won = await Promise.race([leadership.elected.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeout)))]);
      clearTimeout(timer);
      if (!won) throw environmentError('credentialed election', store.describe, `another credentialed agent holds it (waited ${args['election-timeout']} s)`);
    }
    const result = await apply(p, { node, backend, store, leadership, host: realHost(commandRunner()), mountRoot, now: () => new Date() });
    await writeDocument(result);
    const bad = result.results.filter((r) => !r.ok);
    if (bad.length) throw failed(`${bad.length} of ${result.results.length} steps failed; step '${bad[0].action}'`, bad[0].dataset, bad[0].message ?? 'failed');
  } finally {
    await leadership?.resign().catch(() => {});
    await backend.close();
    await store.close();
  }
}
