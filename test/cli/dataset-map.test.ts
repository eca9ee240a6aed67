// `dataset map --apply` and `--app`/`--partition` through bin/: the seed's
// volume map (JSON or YAML, file or stdin) adopts each unit's volume bound to
// its service; a unit left out is detached and keeps its volume; bad maps are
// refused with one line and nothing changed; destroying a dataset bound to an
// application is refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { assertOneLineError, runBin } from '../helpers/cli.js';
import { openDirStore } from '../../src/agent/store/dir/dir-store.js';
import { listingDoc } from '../helpers/store-contract.js';
import type { DatasetsDoc, Volume } from '../../src/agent/docs.js';

const parent = mkdtempSync(path.join(tmpdir(), 'dvm-dataset-map-'));
let n = 0;
const ds = (store: string, args: string[], input?: string) => runBin('dataset', ['--store', store, ...args], { input });
const vol = (id: string, size = 64 << 20): Volume => ({ id, dataset: null, name: id, size, status: 'available', attached: null, metadata: {} });

async function storeWith(volumes: Volume[]): Promise<string> {
  const dir = path.join(parent, `s${n++}`);
  const s = await openDirStore(dir, { create: true });
  await s.writeListing(listingDoc(volumes));
  await s.close();
  return dir;
}
async function desired(store: string): Promise<DatasetsDoc> {
  const r = await ds(store, ['list', '--json']);
  assert.is(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout) as DatasetsDoc;
}
const files = (dir: string) => readdirSync(path.join(dir, 'desired')).sort().map((f) => readFileSync(path.join(dir, 'desired', f), 'utf8'));

test('map --apply: the seed form adopts each volume for its unit; YAML moves a unit; a unit left out is detached, volume kept', async () => {
  const store = await storeWith([vol('vol-00000081'), vol('vol-00000082', 128 << 20)]);
  const map = path.join(parent, 'map.json');
  writeFileSync(map, '{"cassandra/0": "vol-00000081", "cassandra/5": "vol-00000082"}\n');
  const r = await ds(store, ['map', '--apply', map, '--node', 'n1']);
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /cassandra-0: volume 'vol-00000081' adopted for unit 'cassandra\/0' on n1/);
  let d = Object.values((await desired(store)).datasets).sort((a, b) => a.name.localeCompare(b.name));
  assert.equal(d.map((x) => [x.name, x.app, x.node, x.volume, x.size]), [
    ['cassandra-0', 'cassandra', 'n1', 'vol-00000081', 64 << 20],
    ['cassandra-5', 'cassandra', 'n1', 'vol-00000082', 128 << 20],
  ]);
  // The same map again: nothing changes.
  const again = await ds(store, ['map', '--apply', map, '--node', 'n1']);
  assert.is(again.stdout, 'no change\n');
  // YAML on stdin: cassandra/0 moves to n2, cassandra/5 leaves the map.
  const y = await ds(store, ['map', '--apply', '-'], 'cassandra/0:\n  volume: vol-00000081\n  node: n2\n');
  assert.is(y.exitCode, 0, y.stderr);
  d = Object.values((await desired(store)).datasets).sort((a, b) => a.name.localeCompare(b.name));
  assert.equal(d.map((x) => [x.name, x.app ?? null, x.node, x.deleted]), [
    ['cassandra-0', 'cassandra', 'n2', false],
    ['cassandra-5', null, null, false],
  ]);
  const list = await ds(store, ['list']);
  assert.match(list.stdout, /cassandra-5/, 'the unmapped volume is still listed');
});

test('map --apply: bad maps exit 3 (or 1 against the store) with one line, nothing changed', async () => {
  const store = await storeWith([vol('vol-a')]);
  await ds(store, ['create', 'x', '--size', '64M']);
  const before = files(store);
  const cases: [string, number][] = [
    ['{"a/0": "../../dev/sda"}', 3],
    ['{"a/0": "vol-a", "a/1": "vol-a"}', 3],
    ['[1]', 3],
    ['{', 3],
    ['{"a/0": "vol-unknown"}', 1],
  ];
  for (const [text, code] of cases) {
    const f = path.join(parent, `bad${n++}.json`);
    writeFileSync(f, text);
    const r = await ds(store, ['map', '--apply', f, '--node', 'n1']);
    assertOneLineError(r, 'dataset', code);
    assert.equal(files(store), before, text);
  }
  const none = await ds(store, ['map', '--apply', path.join(parent, 'missing.json'), '--node', 'n1']);
  assertOneLineError(none, 'dataset', 1, /cannot read volume map/);
  const usage = await ds(store, ['map']);
  assert.is(usage.exitCode, 2);
});

test('create/adopt --app and --partition; destroy of a dataset bound to an application is refused', async () => {
  const store = await storeWith([vol('vol-b')]);
  assert.is((await ds(store, ['create', 'pg', '--size', '64M', '--app', 'postgres', '--partition', '--node', 'n1'])).exitCode, 0);
  assert.is((await ds(store, ['adopt', 'old', '--volume', 'vol-b', '--app', 'svc'])).exitCode, 0);
  const d = Object.values((await desired(store)).datasets);
  assert.equal(d.map((x) => [x.name, x.app, x.partition ?? false]).sort(), [['old', 'svc', false], ['pg', 'postgres', true]]);
  const bad = await ds(store, ['create', 'q', '--size', '64M', '--app', '../x']);
  assert.is(bad.exitCode, 2);
  const destroy = await ds(store, ['destroy', 'pg']);
  assert.is(destroy.exitCode, 1);
  assert.match(destroy.stderr, /bound to application 'postgres'/);
});

test.after(() => rmSync(parent, { recursive: true, force: true }));
test.run();
