// dataset-plan as a user runs it: the battery (help, version, bad option,
// garbage input files exit 3), and a plan from files that matches the
// library's plan of the same input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { assertOneLineError, cliBattery, runBin } from '../helpers/cli.js';
import { BLANK, CLUSTER, NOW, desired, device, did, listing, nodeState, status, volume, FORMATTED } from '../helpers/plan-fixtures.js';
import { plan } from '../../src/agent/plan/index.js';
import type { PlanDoc } from '../../src/agent/docs.js';

const dir = mkdtempSync(path.join(tmpdir(), 'dvm-plan-cli-'));
const f = (name: string, doc: unknown) => {
  const p = path.join(dir, name);
  writeFileSync(p, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return p;
};
const D = f('desired.json', { format: 'dvm.datasets/1', cluster: CLUSTER, datasets: { [did(1)]: desired(), [did(2)]: desired({ name: 'b', node: 'n2' }) } });
const V = f('volumes.json', listing([volume(), volume({ id: 'vol-2', dataset: did(2), name: 'dvm-b', attached: 'n2' })]));
const N1 = f('n1.json', nodeState('n1', { 'vol-1': device(BLANK) }));
const N2 = f('n2.json', nodeState('n2', { 'vol-2': device({ path: '/dev/memory/n2/vdb', mount: null }) }));
const S2 = f('s2.json', status(did(2), { formatted: FORMATTED('vol-2') }));
const base = ['--node', 'n1', '--desired', D, '--volumes', V, '--nodes', N1, '--nodes', N2, '--status', S2, '--now', NOW];

cliBattery(test, 'dataset-plan', { args: base, readsStdin: false });

test('dataset-plan: plans from files exactly as the library does', async () => {
  const r = await runBin('dataset-plan', base);
  assert.is(r.exitCode, 0, r.stderr);
  const p = JSON.parse(r.stdout) as PlanDoc;
  assert.is(p.steps.length, 1);
  assert.is(p.steps[0].action, 'mkfs');
  assert.is(p.waiting_for.length, 1);
  assert.is(p.waiting_for[0].action, 'mount');
  assert.is(p.waiting_for[0].runs_on, 'node:n2');
  const lib = plan({
    desired: { format: 'dvm.datasets/1', cluster: CLUSTER, datasets: { [did(1)]: desired(), [did(2)]: desired({ name: 'b', node: 'n2' }) } },
    statuses: { [did(2)]: status(did(2), { formatted: FORMATTED('vol-2') }) },
    listing: listing([volume(), volume({ id: 'vol-2', dataset: did(2), name: 'dvm-b', attached: 'n2' })]),
    nodes: { n1: { state: nodeState('n1', { 'vol-1': device(BLANK) }), alive: true }, n2: { state: nodeState('n2', { 'vol-2': device({ path: '/dev/memory/n2/vdb', mount: null }) }), alive: true }, c: { state: null, alive: true, leader: true } },
    node: 'n1', credentialed: false, now: NOW,
  });
  assert.equal(p, JSON.parse(JSON.stringify(lib)));
});

test('dataset-plan: a dead node is waited for, with the reason', async () => {
  const r = await runBin('dataset-plan', [...base, '--dead', 'n2']);
  assert.is(r.exitCode, 0, r.stderr);
  const p = JSON.parse(r.stdout) as PlanDoc;
  assert.is(p.datasets[did(2)].phase, 'waiting');
  assert.match(p.datasets[did(2)].reason!, /node 'n2' is not running an agent/);
});

test('dataset-plan: a fenced node: its volume is detached without its unmount; planning as it is refused', async () => {
  const DM = f('desired-move.json', { format: 'dvm.datasets/1', cluster: CLUSTER, datasets: { [did(1)]: desired(), [did(2)]: desired({ name: 'b', node: 'n1' }) } });
  const r = await runBin('dataset-plan', ['--node', 'c', '--credentialed', '--desired', DM, '--volumes', V, '--nodes', N1, '--nodes', N2, '--status', S2, '--now', NOW, '--fenced', 'n2']);
  assert.is(r.exitCode, 0, r.stderr);
  const p = JSON.parse(r.stdout) as PlanDoc;
  const step = p.steps.find((s) => s.dataset === did(2))!;
  assert.is(step.action, 'detach');
  assert.equal([step.args.node, step.args.confirmed_gone, step.args.fenced], ['n2', true, true]);
  assertOneLineError(await runBin('dataset-plan', [...base, '--fenced', 'n1']), 'dataset-plan', 2, /a fenced node plans nothing/);
});

test('dataset-plan: a desired file that is not JSON, or fails its schema, exits 3 naming the file', async () => {
  assertOneLineError(await runBin('dataset-plan', ['--node', 'n1', '--desired', f('bad.json', '{not json'), '--volumes', V]), 'dataset-plan', 3, 'bad.json');
  const traversal = f('trav.json', { format: 'dvm.datasets/1', cluster: CLUSTER, datasets: { [did(1)]: desired({ mount: '/mnt/dvm/../../etc' }) } });
  assertOneLineError(await runBin('dataset-plan', ['--node', 'n1', '--desired', traversal, '--volumes', V]), 'dataset-plan', 3, 'trav.json');
  const badName = f('name.json', { format: 'dvm.datasets/1', cluster: CLUSTER, datasets: { [did(1)]: desired({ name: '..' }) } });
  assertOneLineError(await runBin('dataset-plan', ['--node', 'n1', '--desired', badName, '--volumes', V]), 'dataset-plan', 3);
  const badVol = f('vol.json', listing([volume({ id: '../../dev/sda' })]));
  assertOneLineError(await runBin('dataset-plan', ['--node', 'n1', '--desired', D, '--volumes', badVol]), 'dataset-plan', 3, 'vol.json');
});

test('dataset-plan: a missing file exits 4; a bad node name or time exits 2', async () => {
  assertOneLineError(await runBin('dataset-plan', ['--node', 'n1', '--desired', path.join(dir, 'nope.json'), '--volumes', V]), 'dataset-plan', 4, 'nope.json');
  assertOneLineError(await runBin('dataset-plan', ['--node', '../x', '--desired', D, '--volumes', V]), 'dataset-plan', 2);
  assertOneLineError(await runBin('dataset-plan', [...base, '--now', 'yesterday']), 'dataset-plan', 2);
});

test.run();
