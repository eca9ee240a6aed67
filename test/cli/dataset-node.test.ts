// `dataset node fence|unfence NODE` through bin/, against a directory store:
// help, bad options and a missing --yes refused with one line (exit 2) and
// the store byte-identical; a node whose agent runs (it holds its lock) or
// that the store does not know refused (exit 1); a dead node fenced, shown
// by `status` with its reason and time, and unfenced.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { assertOneLineError, runBin } from '../helpers/cli.js';
import { openDirStore } from '../../src/agent/store/dir/dir-store.js';
import { validate } from '../../src/lib/schema.js';
import { listingDoc, nodeState } from '../helpers/store-contract.js';
import { storeFiles } from '../helpers/store-files.js';

const parent = mkdtempSync(path.join(tmpdir(), 'dvm-dataset-node-'));
test.after(() => rmSync(parent, { recursive: true, force: true }));
let n = 0;
const ds = (store: string, ...args: string[]) => runBin('dataset', ['--store', store, ...args]);

/** A store where node n3 reported a mounted device of dataset 'pg' and its agent is gone. */
async function deadNodeStore(): Promise<string> {
  const store = path.join(parent, `store${n++}`);
  assert.is((await ds(store, 'create', 'pg', '--size', '64M', '--node', 'n3')).exitCode, 0);
  const s = await openDirStore(store);
  const id = Object.keys((await s.readDesired()).value.datasets)[0];
  const dev = { path: '/dev/loop7', identity: '/srv/lb/vol-1.img', size: 64 << 20, blank: false, signature: { type: 'ext4', uuid: null, partition: null }, mount: { path: '/srv/datasets/pg', read_only: false }, held: false, fsck: null, fs_size: null, error: null };
  await s.writeNodeState(nodeState('n3', { 'vol-1': dev }), { credentialed: false });
  await s.writeListing(listingDoc([{ id: 'vol-1', dataset: id, name: 'dvm-pg', size: 64 << 20, status: 'in-use', attached: 'n3', metadata: {} }]));
  await s.close(); // its lock released: the agent is dead
  return store;
}

test('dataset --help lists node fence and unfence; dataset node --help describes --yes and --reason', async () => {
  const r = await runBin('dataset', ['--help']);
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /node fence NODE --yes \[--reason TEXT\]/);
  assert.match(r.stdout, /node unfence NODE/);
  const h = await runBin('dataset', ['node', '--help']);
  assert.is(h.exitCode, 0, h.stderr);
  assert.match(h.stdout, /--yes/);
  assert.match(h.stdout, /--reason/);
});

test('bad usage exits 2 with one line and changes nothing: missing --yes, bad option, bad action, bad node, bad reason', async () => {
  const store = await deadNodeStore();
  const before = storeFiles(store);
  assertOneLineError(await ds(store, 'node', 'fence', 'n3'), 'dataset', 2, /needs --yes: its volumes are then detached without its unmount; power it off or cut it from the storage first$/);
  assertOneLineError(await ds(store, 'node', 'fence', 'n3', '--yes', '--bogus'), 'dataset', 2);
  assertOneLineError(await ds(store, 'node', 'frob', 'n3'), 'dataset', 2, /fence or unfence/);
  assertOneLineError(await ds(store, 'node', 'fence', '--yes'), 'dataset', 2, /node needs NODE/);
  assertOneLineError(await ds(store, 'node', 'fence', 'n3', 'extra', '--yes'), 'dataset', 2, /unexpected argument 'extra'/);
  assertOneLineError(await ds(store, 'node', 'fence', '../n3', '--yes'), 'dataset', 2, /invalid node name/);
  assertOneLineError(await ds(store, 'node', 'fence', 'n3', '--yes', '--reason', 'two\nlines'), 'dataset', 2, /invalid --reason/);
  assertOneLineError(await ds(store, 'node', 'fence', 'n3', '--yes', '--reason'), 'dataset', 2);
  assertOneLineError(await ds(store, 'node', 'unfence', 'n3', '--yes'), 'dataset', 2, /go with 'node fence'/);
  assert.equal(storeFiles(store), before, 'the store is byte-identical');
});

test('a node whose agent runs is not fenced (exit 1, one line); nor one the store does not know', async () => {
  const store = await deadNodeStore();
  const agent = await openDirStore(store);
  try {
    await agent.writeNodeState(nodeState('n3'), { credentialed: false }); // holds n3's lock, as a running agent does
    const before = storeFiles(store);
    assertOneLineError(await ds(store, 'node', 'fence', 'n3', '--yes'), 'dataset', 1, /node 'n3': its agent is running .*a live node is not fenced: its agent unmounts what moves away \('dataset status' shows it alive\)$/);
    assertOneLineError(await ds(store, 'node', 'fence', 'n9', '--yes'), 'dataset', 1, /node 'n9': not known to store .*\('dataset status' lists the nodes\)$/);
    assert.equal(storeFiles(store), before, 'nothing written');
  } finally {
    await agent.close();
  }
});

test('a dead node fenced: status shows it with reason and time, --json too; unfenced; a second unfence says so', async () => {
  const store = await deadNodeStore();
  let r = await ds(store, 'node', 'fence', 'n3', '--yes', '--reason', 'powered off at the PDU');
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /^node 'n3' fenced: it counts as gone; its volumes are detached without its unmount \(pg\); its agent does nothing until 'dataset node unfence n3'\n$/);
  const file = path.join(store, 'fences', 'n3.json');
  const doc = validate<{ reason: string; at: string; by: string }>('dvm.node-fence/1', JSON.parse(readFileSync(file, 'utf8')));
  assert.is(doc.reason, 'powered off at the PDU');
  assert.match(doc.by, /^.+@.+$/);
  r = await ds(store, 'status');
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`\\nn3\\s+FENCED since ${doc.at.replace(/\./g, '\\.')} by \\S+ \\(powered off at the PDU\\); agent not running`));
  r = await ds(store, 'status', '--json');
  const nodes = validate<{ nodes: Record<string, { fenced: unknown }> }>('dvm.dataset-statuses/1', JSON.parse(r.stdout)).nodes;
  assert.equal(nodes.n3.fenced, { at: doc.at, by: doc.by, reason: 'powered off at the PDU' });
  r = await ds(store, 'node', 'unfence', 'n3');
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /^node 'n3' unfenced/);
  assert.not.ok(existsSync(file));
  assert.not.match((await ds(store, 'status')).stdout, /FENCED/);
  r = await ds(store, 'node', 'unfence', 'n3');
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.stdout, "node 'n3' was not fenced\n");
  // A fenced node's agent says so and does nothing (--once: exit 1, no listing, no state written).
  assert.is((await ds(store, 'node', 'fence', 'n3', '--yes', '--reason', 'off')).exitCode, 0);
  const before = storeFiles(store);
  const agent = await runBin('dataset-agent', ['--store', store, '--node', 'n3', '--backend', 'memory', '--credentialed', '--once']);
  assert.is(agent.exitCode, 1, agent.stderr);
  assert.match(agent.stderr, /node 'n3' is fenced since \S+ by \S+ \(off\): this agent mounts and uses nothing, and takes no part in the election, until 'dataset node unfence n3'\n$/);
  assert.equal(storeFiles(store), before, 'the fenced agent wrote nothing');
  assert.is((await ds(store, 'node', 'unfence', 'n3')).exitCode, 0);
  // No --reason: the record says none.
  assert.is((await ds(store, 'node', 'fence', 'n3', '--yes')).exitCode, 0);
  assert.is(JSON.parse(readFileSync(file, 'utf8')).reason, null);
});

test.run();
