// `dataset map --apply FILE --wait`: follows every dataset the map changed,
// as --wait does on the other changing commands. The agents are played by
// this process writing what they would write into a directory store (as in
// dataset-wait.test.ts): exit 0 once each touched dataset converged where the
// map puts it; exit 1 on timeout naming each one stuck, where and why.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runBin } from '../helpers/cli.js';
import { openDirStore, type DirStore } from '../../src/agent/store/dir/dir-store.js';
import type { Volume } from '../../src/agent/docs.js';
import { listingDoc, nodeState, statusDoc } from '../helpers/store-contract.js';

const parent = mkdtempSync(path.join(tmpdir(), 'dvm-map-wait-'));
const store = path.join(parent, 'store');
const ds = (...args: string[]) => runBin('dataset', ['--store', store, ...args]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;
const vol = (id: string): Volume => ({ id, dataset: null, name: id, size: 64 * MiB, status: 'available', attached: null, metadata: {} });
let s: DirStore;

test.before(async () => {
  s = await openDirStore(store, { create: true });
  await s.writeListing(listingDoc([vol('vol-m0'), vol('vol-m1')]));
  const other = await openDirStore(store);
  await other.writeNodeState({ ...nodeState('n1'), apps: ['svc'] }, { credentialed: true });
  await other.writeNodeState({ ...nodeState('n2'), apps: ['svc'] }, { credentialed: false });
  // kept open: n1 and n2 are alive
  (globalThis as { keep?: DirStore }).keep = other;
});

test.after(async () => {
  await s?.close();
  await (globalThis as { keep?: DirStore }).keep?.close();
  rmSync(parent, { recursive: true, force: true });
});

/** Plays the agents: each named dataset reported converged on `node` for its entry as it is now. */
async function converge(names: string[], node: string | null): Promise<void> {
  for (const name of names) {
    let entry;
    for (let i = 0; !(entry = Object.entries((await s.readDesired()).value.datasets).find(([, d]) => d.name === name)); i++) {
      if (i > 200) assert.unreachable(`no dataset '${name}'`);
      await sleep(50);
    }
    const [id, d] = entry;
    const observed = { node, size: 64 * MiB, mounted: node ? `/srv/datasets/${name}` : null, read_only: false };
    await s.updateStatus(id, (x) => ({ ...(x ?? statusDoc(id)), phase: 'converged', reason: null, by: node ?? 'n1', observed, desired_changed: d.changed }));
    await sleep(700);
  }
}

test('map --wait: exit 0 once every dataset the map adopted converged on its node; each one\'s phases on stderr, the changes on stdout', async () => {
  const map = path.join(parent, 'map.json');
  writeFileSync(map, '{"svc/0": "vol-m0", "svc/1": "vol-m1"}\n');
  const t0 = Date.now();
  const applying = ds('map', '--apply', map, '--node', 'n1', '--wait', '--timeout', '60');
  await sleep(1500);
  await converge(['svc-0', 'svc-1'], 'n1');
  const r = await applying;
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /^svc-0: volume 'vol-m0' adopted for unit 'svc\/0' on n1\nsvc-1: volume 'vol-m1' adopted for unit 'svc\/1' on n1\n$/);
  const lines = r.stderr.trim().split('\n');
  for (const l of lines) assert.match(l, /^dataset: map 'svc-[01]': \d+\.\d s: \S/, `each line names the dataset and the elapsed time: ${l}`);
  assert.ok(lines.some((l) => /^dataset: map 'svc-0': .*adopting volume 'vol-m0'/.test(l)), `the planner's phase for svc-0:\n${r.stderr}`);
  const end0 = lines.findIndex((l) => /map 'svc-0': .*: mounted on n1$/.test(l));
  const end1 = lines.findIndex((l) => /map 'svc-1': .*: mounted on n1$/.test(l));
  assert.ok(end0 >= 0 && end1 > end0, `both arrive, svc-0 first:\n${r.stderr}`);
  assert.ok(Date.now() - t0 < 50_000);
  const again = await ds('map', '--apply', map, '--node', 'n1', '--wait', '--timeout', '5');
  assert.is(again.exitCode, 0, again.stderr);
  assert.is(again.stdout, 'no change\n');
  assert.is(again.stderr, '', 'nothing touched, nothing to wait for');
});

test('map --wait on timeout: exit 1 naming each dataset stuck, where and why; the map stands', async () => {
  const map = path.join(parent, 'map2.yaml');
  writeFileSync(map, 'svc/0:\n  volume: vol-m0\n  node: n2\n'); // svc/0 moves to n2, svc/1 leaves the map
  const r = await ds('map', '--apply', map, '--wait', '--timeout', '3');
  assert.is(r.exitCode, 1, r.stderr);
  assert.match(r.stdout, /svc-0: unit 'svc\/0' moves n1 -> n2\n/);
  assert.match(r.stdout, /svc-1: unit 'svc\/1' left the map/);
  const last = r.stderr.trim().split('\n').pop()!;
  assert.match(last, new RegExp(`^dataset: map '${map.replace(/[.]/g, '\\.')}': 2 of 2 datasets not there after 3 s: 'svc-0' not on node 'n2', stuck at \\S.*: .*; 'svc-1' not converged, stuck at \\S.*: .* \\(the change stands; the agents carry on\\)$`));
  const d = Object.values((await s.readDesired()).value.datasets).sort((x, y) => x.name.localeCompare(y.name));
  assert.equal(d.map((x) => x.node), ['n2', null], 'the timeout did not undo the map');
});

test('map: --timeout without --wait is a usage error; a bad --timeout too', async () => {
  const map = path.join(parent, 'map.json');
  const u = await ds('map', '--apply', map, '--timeout', '5');
  assert.is(u.exitCode, 2, u.stderr);
  assert.match(u.stderr, /--timeout goes with --wait/);
  const b = await ds('map', '--apply', map, '--wait', '--timeout', 'soon');
  assert.is(b.exitCode, 2, b.stderr);
});

test.run();
