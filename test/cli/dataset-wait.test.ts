// `dataset move NAME --to N --wait`: one visible operation. The agents are
// played here by this process writing, one at a time, what they would write
// into a directory store (node states, the listing, the status), so each phase
// of a move is seen in order; the real agents doing it are in
// test/services/agent-dead-node-etcd.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runBin } from '../helpers/cli.js';
import { openDirStore } from '../../src/agent/store/dir/dir-store.js';
import type { DirStore } from '../../src/agent/store/dir/dir-store.js';
import type { LocalDevice, Volume } from '../../src/agent/docs.js';
import { listingDoc, nodeState, statusDoc } from '../helpers/store-contract.js';
import { validate } from '../../src/lib/schema.js';

const parent = mkdtempSync(path.join(tmpdir(), 'dvm-dataset-wait-'));
const store = path.join(parent, 'store');
const ds = (...args: string[]) => runBin('dataset', ['--store', store, ...args]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;
const AT = '2026-12-02T00:00:00.000Z';

let s: DirStore;
let id = '';

const vol = (attached: string | null): Volume => ({ id: 'vol-a', dataset: id, name: 'dvm-a', size: 64 * MiB, status: attached ? 'in-use' : 'available', attached, metadata: {} });
const dev = (mounted: boolean): LocalDevice => ({
  path: '/dev/loop7', identity: 'lb:vol-a', size: 64 * MiB, blank: false, signature: { type: 'ext4', uuid: 'u-1', partition: null },
  mount: mounted ? { path: '/srv/datasets/a', read_only: false } : null, held: false, fsck: null, fs_size: 64 * MiB, error: null,
});
const changed = async () => (await s.readDesired()).value.datasets[id].changed;

test.before(async () => {
  const r = await ds('create', 'a', '--size', '64M', '--node', 'n1');
  assert.is(r.exitCode, 0, r.stderr);
  id = r.stdout.trim();
  s = (await openDirStore(store)) as DirStore;
  await s.writeNodeState(nodeState('n1', { 'vol-a': dev(true) }), { credentialed: true });
  await s.writeNodeState(nodeState('n2'), { credentialed: false });
  await s.writeListing(listingDoc([vol('n1')]));
  const formatted = { volume: 'vol-a', filesystem: 'ext4' as const, uuid: 'u-1', at: AT, by: 'n1' };
  await s.updateStatus(id, () => statusDoc(id, { phase: 'converged', reason: null, formatted, observed: { node: 'n1', size: 64 * MiB, mounted: '/srv/datasets/a', read_only: false } }));
});

test.after(async () => {
  await s?.close();
  rmSync(parent, { recursive: true, force: true });
});

test('move --wait prints each phase as the agents reach it and the final status; exit 0 once mounted on the target', async () => {
  const t0 = Date.now();
  const moving = ds('move', 'a', '--to', 'n2', '--wait', '--timeout', '60');
  // Each step as its agent would leave it, slower than the command's 1 s poll.
  const world: (() => Promise<void>)[] = [
    () => s.writeNodeState(nodeState('n1', { 'vol-a': dev(false) }), { credentialed: true }),
    () => s.writeNodeState(nodeState('n1'), { credentialed: true }),
    () => s.writeListing(listingDoc([vol(null)])),
    () => s.writeListing(listingDoc([vol('n2')])),
    () => s.writeNodeState(nodeState('n2', { 'vol-a': dev(false) }), { credentialed: false }),
    () => s.writeNodeState(nodeState('n2', { 'vol-a': dev(true) }), { credentialed: false }),
    async () => {
      const c = await changed();
      await s.updateStatus(id, (x) => ({ ...x!, phase: 'converged', reason: null, by: 'n2', observed: { node: 'n2', size: 64 * MiB, mounted: '/srv/datasets/a', read_only: false }, desired_changed: c }));
    },
  ];
  await sleep(1500);
  for (const step of world) {
    await step();
    await sleep(1300);
  }
  const r = await moving;
  assert.is(r.exitCode, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  const phases = ['unmounting on n1', 'releasing the device on n1', 'detaching from n1', 'attaching to n2', 'connecting the device on n2', 'checking and mounting on n2', 'mounted on n2'];
  let at = -1;
  for (const p of phases) {
    const i = lines.findIndex((l, k) => k > at && l.includes(p));
    assert.ok(i > at, `phase '${p}' printed after the ones before it:\n${r.stderr}`);
    at = i;
  }
  for (const l of lines) assert.match(l, /^dataset: move 'a': \d+\.\d s: \S/, `each line says the command, the dataset and the elapsed time: ${l}`);
  assert.match(lines[0], /unmounting on n1 \(unmounting '\/srv\/datasets\/a' on node 'n1' to move it to node 'n2'/, 'the planner says why');
  assert.match(r.stdout, /^NAME\s+NODE.*\na\s+n2\s+64\.00m\s+converged\s+n2:\/srv\/datasets\/a\s/, `the final status on stdout:\n${r.stdout}`);
  assert.ok(Date.now() - t0 < 50_000);
});

test('move --wait on timeout: exit 1 naming the phase it is stuck in and the last error; the move stands', async () => {
  const moving = ds('move', 'a', '--to', 'n1', '--wait', '--timeout', '5');
  // The agent's error, written for the entry as the move left it.
  while ((await s.readDesired()).value.datasets[id].node !== 'n1') await sleep(50);
  const c = await changed();
  await s.updateStatus(id, (x) => ({ ...x!, phase: 'error', reason: "unmounting '/srv/datasets/a' on node 'n2' to move it to node 'n1'", error: 'umount: /srv/datasets/a: target is busy', desired_changed: c }));
  const r = await moving;
  assert.is(r.exitCode, 1, r.stderr);
  const last = r.stderr.trim().split('\n').pop()!;
  assert.match(last, /^dataset: move 'a': not on node 'n1' after 5 s, stuck at unmounting on n2: error: .*last error: umount: \/srv\/datasets\/a: target is busy \(the change stands; the agents carry on\)$/);
  assert.match(r.stderr, /last error: umount: \/srv\/datasets\/a: target is busy\n/, 'the error printed as it appeared');
  assert.match(r.stdout, /\na\s+n1\s+64\.00m\s+error\s+n2:\/srv\/datasets\/a\s/, 'the status at the end on stdout');
  assert.is((await s.readDesired()).value.datasets[id].node, 'n1', 'the timeout did not cancel the move');
});

test('--wait on the other changing commands; --timeout without --wait is a usage error', async () => {
  const r = await ds('grow', 'a', '+1M', '--wait', '--timeout', '1');
  assert.is(r.exitCode, 1, r.stderr);
  assert.match(r.stderr, /^dataset: grow 'a': not converged after 1 s, stuck at /m);
  const u = await ds('detach', 'a', '--timeout', '5');
  assert.is(u.exitCode, 2, u.stderr);
  assert.match(u.stderr, /--timeout goes with --wait/);
  const m = await ds('move', 'a', '--to', 'n2', '--wait', '--timeout', 'soon');
  assert.is(m.exitCode, 2, m.stderr);
});

test('status shows every node: alive or dead, whether it holds the keys, what it holds', async () => {
  // n3's state written by an agent that then went away (its lock is free).
  const other = await openDirStore(store);
  await other.writeNodeState(nodeState('n3', { 'vol-z': { ...dev(true), mount: { path: '/srv/datasets/z', read_only: false } } }), { credentialed: false });
  await other.close();
  const r = await ds('status');
  assert.is(r.exitCode, 0, r.stderr);
  const nodes = r.stdout.slice(r.stdout.indexOf('\nNODE '));
  assert.match(nodes, /^\nNODE\s+LIVENESS\s+KEYS\s+STATE WRITTEN\s+HOLDS\n/);
  assert.match(nodes, /\nn1\s+alive \(agent running\)\s+standby\s+\S+Z \(\d+ s ago\)\s+-\n/);
  assert.match(nodes, /\nn2\s+alive \(agent running\)\s+-\s+\S+ \(\d+ s ago\)\s+a:\/srv\/datasets\/a\n/);
  assert.match(nodes, /\nn3\s+DEAD \(agent not running, lease gone\)\s+-\s+\S+ \(\d+ s ago\)\s+vol-z:\/srv\/datasets\/z \(last seen\)\n/);
  const j = await ds('status', '--json');
  const doc = validate<{ nodes: Record<string, { alive: boolean; holds: { name: string | null; mounted: string | null }[] }> }>('dvm.dataset-statuses/1', JSON.parse(j.stdout));
  assert.equal([doc.nodes.n1.alive, doc.nodes.n2.alive, doc.nodes.n3.alive], [true, true, false]);
  assert.equal(doc.nodes.n2.holds.map((h) => [h.name, h.mounted]), [['a', '/srv/datasets/a']]);
});

test.run();
