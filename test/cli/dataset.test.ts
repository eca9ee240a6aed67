// The operator's `dataset` command through bin/, against a directory store:
// the battery, every command's effect on the desired state, bad input
// refused with one line and nothing changed, and `status --wait`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { assertOneLineError, cliBattery, runBin } from '../helpers/cli.js';
import { openDirStore } from '../../src/agent/store/dir/dir-store.js';
import { validate } from '../../src/lib/schema.js';
import type { DatasetsDoc, DatasetStatus } from '../../src/agent/docs.js';
import { listingDoc, statusDoc } from '../helpers/store-contract.js';
import { storeFiles } from '../helpers/store-files.js';

const parent = mkdtempSync(path.join(tmpdir(), 'dvm-dataset-cli-'));
let n = 0;
const freshStore = () => path.join(parent, `store${n++}`);
const MiB = 1024 * 1024;

const ds = (store: string, ...args: string[]) => runBin('dataset', ['--store', store, ...args]);
async function desired(store: string): Promise<DatasetsDoc> {
  const r = await ds(store, 'list', '--json');
  assert.is(r.exitCode, 0, r.stderr);
  return validate<DatasetsDoc>('dvm.datasets/1', JSON.parse(r.stdout));
}
const byName = (doc: DatasetsDoc, name: string) => Object.entries(doc.datasets).find(([, d]) => d.name === name);
/** Every file of the store with its bytes: "nothing changed" means this is equal. */
cliBattery(test, 'dataset', {
  args: ['--store', path.join(parent, 'battery'), 'list'],
  readsStdin: false,
  failing: async () => {
    const store = path.join(parent, 'battery-fail');
    await ds(store, 'create', 'a', '--size', '64M');
    return { args: ['--store', store, 'grow', 'a', '32M'], files: readdirSync(path.join(store, 'desired')).map((f) => path.join(store, 'desired', f)), code: 1 };
  },
});

test('create makes a private store and one entry; prints the new id; list shows it', async () => {
  const store = freshStore();
  const r = await ds(store, 'create', 'pg', '--size', '10G', '--node', 'n1', '--meta', 'team=db', '--meta', 'tier=gold');
  assert.is(r.exitCode, 0, r.stderr);
  const id = r.stdout.trim();
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.is(statSync(store).mode & 0o777, 0o700);
  const doc = await desired(store);
  assert.equal(Object.keys(doc.datasets), [id]);
  const d = doc.datasets[id];
  assert.equal([d.name, d.size, d.filesystem, d.node, d.mount, d.deleted, d.meta], ['pg', 10 * 1024 * MiB, 'ext4', 'n1', null, false, { team: 'db', tier: 'gold' }]);
  const text = await ds(store, 'list');
  assert.is(text.exitCode, 0);
  assert.match(text.stdout, /^NAME\s+SIZE\s+FS\s+NODE\s+MOUNT/);
  assert.match(text.stdout, /\npg\s+10\.00g\s+ext4\s+n1\s+\(default\)/);
});

test('grow, shrink, move, detach, destroy each change exactly what they say', async () => {
  const store = freshStore();
  await ds(store, 'create', 'a', '--size', '64M', '--node', 'n1', '--fs', 'ext4', '--mount', '/srv/data/a');
  const [id, first] = byName(await desired(store), 'a')!;
  let r = await ds(store, 'grow', 'a', '+64M');
  assert.is(r.exitCode, 0, r.stderr);
  let d = (await desired(store)).datasets[id];
  assert.is(d.size, 128 * MiB);
  assert.ok(d.changed > first.changed, 'changed moves forward');
  r = await ds(store, 'grow', 'a', '256M');
  assert.is((await desired(store)).datasets[id].size, 256 * MiB);
  r = await ds(store, 'shrink', 'a', '192M');
  assert.is(r.exitCode, 0, r.stderr);
  d = (await desired(store)).datasets[id];
  assert.equal([d.size, d.shrink_to], [192 * MiB, 192 * MiB]);
  r = await ds(store, 'grow', 'a', '+0M');
  assertOneLineError(r, 'dataset', 2, 'greater than zero');
  r = await ds(store, 'grow', 'a', '192M');
  assert.is(r.exitCode, 0, r.stderr);
  assert.is((await desired(store)).datasets[id].shrink_to, undefined, 'grow clears a pending shrink');
  r = await ds(store, 'move', 'a', '--to', 'n2');
  assert.is(r.exitCode, 0, r.stderr);
  assert.is((await desired(store)).datasets[id].node, 'n2');
  r = await ds(store, 'detach', 'a');
  assert.is((await desired(store)).datasets[id].node, null);
  r = await ds(store, 'destroy', 'a');
  assert.is(r.exitCode, 0, r.stderr);
  d = (await desired(store)).datasets[id];
  assert.equal([d.deleted, d.size, d.mount], [true, 192 * MiB, '/srv/data/a']);
  r = await ds(store, 'destroy', 'a');
  assert.is(r.exitCode, 0, 'a repeated destroy is success');
  r = await ds(store, 'move', 'a', '--to', 'n1');
  assertOneLineError(r, 'dataset', 1, 'being destroyed');
});

test('refusals exit 1 with one line and change nothing', async () => {
  const store = freshStore();
  await ds(store, 'create', 'a', '--size', '64M', '--mount', '/srv/a');
  await ds(store, 'create', 'x', '--size', '64M', '--fs', 'xfs');
  const before = storeFiles(store);
  const cases: [string[], string][] = [
    [['create', 'a', '--size', '1G'], 'exists'],
    [['grow', 'a', '32M'], 'smaller'],
    [['shrink', 'a', '64M'], 'not smaller'],
    [['shrink', 'x', '32M'], 'ext4 only'],
    [['grow', 'nope', '+1G'], 'no such dataset'],
    [['create', 'b', '--size', '1G', '--mount', '/srv/a/b'], 'overlaps'],
    [['create', 'b', '--size', '1G', '--mount', '/srv'], 'overlaps'],
    [['adopt', 'b', '--volume', 'vol-1'], 'no backend listing'],
  ];
  const rs = await Promise.all(cases.map(([args]) => ds(store, ...args)));
  cases.forEach(([, msg], i) => assertOneLineError(rs[i], 'dataset', 1, msg));
  assert.equal(storeFiles(store), before);
});

test('bad arguments exit 2 with one line and change nothing; a hostile volume id never reaches the store', async () => {
  const store = freshStore();
  await ds(store, 'create', 'a', '--size', '64M');
  const before = storeFiles(store);
  const cases: string[][] = [
    ['create', '../etc', '--size', '1G'],
    ['create', '-x', '--size', '1G'],
    ['create', 'b'],
    ['create', 'b', '--size', 'lots'],
    ['create', 'b', '--size', '-1G'],
    ['create', 'b', '--size', '+1G'],
    ['create', 'b', '--size', '10%FREE'],
    ['create', 'b', '--size', '1G', '--fs', 'btrfs'],
    ['create', 'b', '--size', '1G', '--mount', 'relative'],
    ['create', 'b', '--size', '1G', '--mount', '/srv/../etc'],
    ['create', 'b', '--size', '1G', '--mount', '/srv//b'],
    ['create', 'b', '--size', '1G', '--mount', '/'],
    ['create', 'b', '--size', '1G', '--node', 'bad/node'],
    ['create', 'b', '--size', '1G', '--meta', 'novalue'],
    ['create', 'b', '--size', '1G', '--meta', 'dvm.dataset=x'],
    ['adopt', 'b', '--volume', '../../dev/sda'],
    ['adopt', 'b', '--volume', '/dev/sda'],
    ['adopt', 'b'],
    ['shrink', 'a', '+1M'],
    ['move', 'a'],
    ['move', 'a', '--to', '..'],
    ['status', '--timeout', '5'],
    ['status', '--wait', '--timeout', 'soon'],
    ['list', 'extra'],
    ['frobnicate'],
    [],
  ];
  const rs = await Promise.all(cases.map((args) => ds(store, ...args)));
  rs.forEach((r, i) => assertOneLineError(r, 'dataset', 2, undefined));
  void cases;
  assertOneLineError(await runBin('dataset', ['list']), 'dataset', 2, '--store');
  assert.equal(storeFiles(store), before);
});

test('a store that others can write, or a missing one, is refused (exit 4); a corrupt entry exits 3', async () => {
  const store = freshStore();
  assertOneLineError(await ds(store, 'list'), 'dataset', 4);
  await ds(store, 'create', 'a', '--size', '64M');
  const { chmodSync } = await import('node:fs');
  chmodSync(store, 0o777);
  assertOneLineError(await ds(store, 'list'), 'dataset', 4, 'others can write');
  chmodSync(store, 0o700);
  const f = path.join(store, 'desired', readdirSync(path.join(store, 'desired'))[0]);
  writeFileSync(f, '{"name":"a","size":-1}');
  assertOneLineError(await ds(store, 'list'), 'dataset', 3, f);
  assertOneLineError(await ds(store, 'create', 'b', '--size', '1M'), 'dataset', 3);
});

test('two dataset commands at once never lose each other (20 concurrent creates)', async () => {
  const store = freshStore();
  await ds(store, 'list').catch(() => {});
  await ds(store, 'create', 'seed', '--size', '1M');
  const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => ds(store, 'create', `d${i}`, '--size', '1M')));
  for (const r of rs) assert.is(r.exitCode, 0, r.stderr);
  assert.is(Object.keys((await desired(store)).datasets).length, 21);
});

test('adopt takes the size of the listed volume and refuses one another dataset owns', async () => {
  const store = freshStore();
  await ds(store, 'create', 'a', '--size', '1M');
  const s = await openDirStore(store);
  const [ownerId] = Object.keys((await s.readDesired()).value.datasets);
  await s.writeListing(
    listingDoc([
      { id: 'vol-free', dataset: null, name: 'legacy', size: 300 * MiB, status: 'available', attached: null, metadata: {} },
      { id: 'vol-a', dataset: ownerId, name: 'dvm-a', size: MiB, status: 'available', attached: null, metadata: {} },
    ]),
  );
  await s.close();
  let r = await ds(store, 'adopt', 'legacy', '--volume', 'vol-free', '--node', 'n1');
  assert.is(r.exitCode, 0, r.stderr);
  const [, d] = byName(await desired(store), 'legacy')!;
  assert.equal([d.size, d.volume, d.node], [300 * MiB, 'vol-free', 'n1']);
  assertOneLineError(await ds(store, 'adopt', 'again', '--volume', 'vol-free'), 'dataset', 1, 'already adopted');
  assertOneLineError(await ds(store, 'adopt', 'b', '--volume', 'vol-a'), 'dataset', 1, "belongs to dataset 'a'");
  assertOneLineError(await ds(store, 'adopt', 'c', '--volume', 'vol-none'), 'dataset', 1, 'not in the backend listing');
});

test('status says why each dataset is not converged; --wait exits 1 on timeout showing it, 0 once all converged', async () => {
  const store = freshStore();
  await ds(store, 'create', 'a', '--size', '64M', '--node', 'n1');
  await ds(store, 'create', 'b', '--size', '64M', '--node', 'n1');
  let r = await ds(store, 'status');
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /\na\s+n1\s+64\.00m\s+unknown\s.*no status yet/);
  const s = await openDirStore(store);
  const doc = (await s.readDesired()).value;
  const [[ida, a], [idb, b]] = Object.entries(doc.datasets).sort(([, x], [, y]) => (x.name < y.name ? -1 : 1));
  await s.updateStatus(ida, () => statusDoc(ida, { phase: 'converged', reason: null, desired_changed: a.changed }));
  await s.updateStatus(idb, () => statusDoc(idb, { phase: 'waiting', reason: "waiting for node 'n1' to unmount", error: 'umount: target is busy', desired_changed: b.changed }));
  const t0 = Date.now();
  r = await ds(store, 'status', '--wait', '--timeout', '1');
  assert.ok(Date.now() - t0 >= 900, 'waited for the timeout');
  assertOneLineError({ ...r, stdout: '' }, 'dataset', 1, '1 of 2 datasets not converged');
  assert.match(r.stdout, /\nb\s.*waiting: waiting for node 'n1' to unmount; last error: umount: target is busy/);
  r = await ds(store, 'status', '--json');
  const report = validate<{ datasets: Record<string, { converged: boolean; status: DatasetStatus | null }> }>('dvm.dataset-statuses/1', JSON.parse(r.stdout));
  assert.equal([report.datasets[ida].converged, report.datasets[idb].converged], [true, false]);
  // A converged status of an older version of the entry is not an answer.
  await ds(store, 'grow', 'a', '+1M');
  const waiting = ds(store, 'status', '--wait', '--timeout', '20');
  await new Promise((res) => setTimeout(res, 300));
  const now = (await s.readDesired()).value.datasets;
  await s.updateStatus(idb, (x) => ({ ...x!, phase: 'converged', reason: null, error: null, desired_changed: now[idb].changed }));
  await new Promise((res) => setTimeout(res, 300));
  await s.updateStatus(ida, (x) => ({ ...x!, desired_changed: now[ida].changed }));
  r = await waiting;
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /\na\s+n1\s+65\.00m\s+converged/);
  await s.close();
});

test.after(() => rmSync(parent, { recursive: true, force: true }));
test.run();
