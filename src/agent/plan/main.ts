// dataset-plan: the pure planner as a tool. Reads the desired state, the
// listing, node states and statuses from files; prints dvm.dataset-plan/1.
import { readFileSync } from 'node:fs';
import { parser, handledByYargs } from '../../lib/cli.js';
import { parseDocument, writeDocument } from '../../lib/io.js';
import { environmentError, invalidInput, usageError } from '../../lib/errors.js';
import type { DatasetsDoc, DatasetStatus, NodeStateDoc, VolumesDoc } from '../docs.js';
import { plan } from './plan.js';
import type { PlanNode } from './types.js';

const USAGE = `Usage: $0 --node N [--credentialed] --desired D --volumes V [--nodes FILE]... [--status FILE]... [--dead NODE]... [--fenced NODE]... [--now TIME]

Plans one pass for node N: at most one step per dataset, the steps this node
runs in "steps", the ones other nodes (or the credentialed node) must run in
"waiting_for", and per dataset its phase and why it is not converged. Pure:
it reads files and prints dvm.dataset-plan/1; nothing is changed.

  --desired   dvm.datasets/1 (what \`dataset list --json\` prints)
  --volumes   dvm.volumes/1 (the credentialed node's listing, dataset-volumes)
  --nodes     dvm.node-state/1 of a node (dataset-local), once per node
  --status    dvm.dataset-status/1 of a dataset (markers, formatted record)
  --dead      a node whose agent is not running
  --fenced    a node an operator declared gone (dataset node fence): not
              running, its volumes detached without its unmount
  The credentialed agent is taken to be the listing's node unless --dead.

Examples:
  dataset-plan --node n1 --desired desired.json --volumes volumes.json --nodes n1.json --nodes n2.json
  dataset-plan --node c --credentialed --desired d.json --volumes v.json --nodes c.json --status a.json`;

const list = (x: unknown): string[] => (x === undefined ? [] : Array.isArray(x) ? x.map(String) : [String(x)]);

function readDoc<T>(file: string, format: string): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw environmentError('cannot read', file, (e as NodeJS.ErrnoException).code ?? (e as Error).message);
  }
  return parseDocument<T>(text, [format], file);
}

export async function main(argv: string[]): Promise<void> {
  const args = await (await parser('dataset-plan', argv, USAGE))
    .option('node', { type: 'string', requiresArg: true, demandOption: true, describe: 'the node planning' })
    .option('credentialed', { type: 'boolean', describe: 'this node runs the control steps' })
    .option('desired', { type: 'string', requiresArg: true, demandOption: true, describe: 'dvm.datasets/1 file' })
    .option('volumes', { type: 'string', requiresArg: true, demandOption: true, describe: 'dvm.volumes/1 file' })
    .option('nodes', { type: 'string', array: true, requiresArg: true, describe: 'dvm.node-state/1 file, once per node' })
    .option('status', { type: 'string', array: true, requiresArg: true, describe: 'dvm.dataset-status/1 file, once per dataset' })
    .option('dead', { type: 'string', array: true, requiresArg: true, describe: 'a node whose agent is not running' })
    .option('fenced', { type: 'string', array: true, requiresArg: true, describe: 'a node an operator fenced (declared gone)' })
    .option('now', { type: 'string', requiresArg: true, describe: 'the time to plan at (ISO 8601 UTC; default now)' })
    .check((a) => {
      if (a._.length > 0) throw new Error(`unexpected argument '${a._[0]}'`);
      return true;
    })
    .parseAsync();
  if (handledByYargs(args)) return;
  const node = String(args.node);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(node)) throw usageError('invalid node name', node, 'expected [A-Za-z0-9][A-Za-z0-9_.-]{0,62}');
  const now = args.now === undefined ? new Date().toISOString() : String(args.now);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(now)) throw usageError('invalid time', now, 'expected ISO 8601 UTC, e.g. 2026-12-02T03:00:00Z');

  const desired = readDoc<DatasetsDoc>(String(args.desired), 'dvm.datasets/1');
  const listing = readDoc<VolumesDoc>(String(args.volumes), 'dvm.volumes/1');
  const dead = new Set(list(args.dead));
  const nodes: Record<string, PlanNode> = {};
  for (const f of list(args.nodes)) {
    const st = readDoc<NodeStateDoc>(f, 'dvm.node-state/1');
    if (nodes[st.node]) throw invalidInput('invalid input', f, `a second state of node '${st.node}'`);
    nodes[st.node] = { state: st, alive: !dead.has(st.node), leader: false };
  }
  const leader = args.credentialed ? node : listing.listed_by;
  nodes[leader] ??= { state: null, alive: !dead.has(leader) };
  nodes[leader].leader = true;
  if (args.credentialed) nodes[node].alive = true;
  nodes[node] ??= { state: null, alive: true };
  for (const n of list(args.fenced)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(n)) throw usageError('invalid node name', n, 'expected [A-Za-z0-9][A-Za-z0-9_.-]{0,62}');
    if (n === node) throw usageError('usage', n, 'the node planning is not fenced (a fenced node plans nothing)');
    const e = (nodes[n] ??= { state: null, alive: false });
    Object.assign(e, { alive: false, leader: false, fenced: { format: 'dvm.node-fence/1', node: n, reason: null, at: now, by: 'dataset-plan --fenced' } });
  }
  const statuses: Record<string, DatasetStatus> = {};
  for (const f of list(args.status)) {
    const s = readDoc<DatasetStatus>(f, 'dvm.dataset-status/1');
    statuses[s.id] = s;
  }
  await writeDocument(plan({ desired, statuses, listing, nodes, node, credentialed: Boolean(args.credentialed), now }));
}
