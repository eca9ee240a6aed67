// Applications and the volume map, pure parts: definitions are read only from
// a root-owned directory and validated; the volume map (JSON or YAML, the
// seed's form or {volume, node}) becomes desired entries; units leaving the
// map detach but never destroy; migration steps derive from what is on disk.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { appProblem, loadApps, toDefinition } from '../../src/agent/apps/definition.js';
import { applyVolumeMap, MapError, parseVolumeMap, UNIT_KEY } from '../../src/agent/apps/volume-map.js';
import { nextMigrationStep, type MigrationFacts } from '../../src/agent/apps/migrate.js';
import type { DatasetsDoc, Volume } from '../../src/agent/docs.js';
import { appStart } from '../../src/agent/apps/steps.js';
import { clearStarted, readStarted } from '../../src/agent/apps/observe.js';

const dir = mkdtempSync(path.join(tmpdir(), 'dvm-apps-'));
const good = { format: 'dvm.app/1' as const, stop: ['/bin/true'], start: ['/bin/true'], data_dir: '/srv/pg', migrate: 'copy' as 'copy' | 'none' };

test('app definitions: valid ones load, bad ones are reasons, unknown names say where to define them', () => {
  const apps = path.join(dir, 'apps');
  mkdirSync(apps, { mode: 0o755 });
  writeFileSync(path.join(apps, 'pg.json'), JSON.stringify(good));
  writeFileSync(path.join(apps, 'shell.json'), JSON.stringify({ ...good, stop: 'pkill postgres' }));
  writeFileSync(path.join(apps, 'rel.json'), JSON.stringify({ ...good, data_dir: '/srv/../etc' }));
  writeFileSync(path.join(apps, 'open.json'), JSON.stringify(good));
  chmodSync(path.join(apps, 'open.json'), 0o666);
  writeFileSync(path.join(apps, 'broken.json'), '{');
  const set = loadApps(apps);
  assert.equal([...set.apps.keys()], ['pg']);
  assert.is(set.apps.get('pg')!.subdir, 'data');
  assert.is(set.apps.get('pg')!.timeoutMs, 120_000);
  assert.match(appProblem(set, 'shell')!, /stop/);
  assert.match(appProblem(set, 'rel')!, /data_dir/);
  assert.match(appProblem(set, 'open')!, /writable by group or others/);
  assert.match(appProblem(set, 'broken')!, /broken/);
  assert.match(appProblem(set, 'nosuch')!, /not defined on this node .*nosuch\.json/);
  assert.is(appProblem(set, 'pg'), null);
});

test('app definitions: a missing directory defines none; a writable directory is refused whole', () => {
  assert.is(loadApps(path.join(dir, 'none')).apps.size, 0);
  const open = path.join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  writeFileSync(path.join(open, 'pg.json'), JSON.stringify(good));
  const set = loadApps(open);
  assert.is(set.apps.size, 0);
  assert.match(appProblem(set, 'pg')!, /writable by group or others/);
});


const facts = (f: Partial<MigrationFacts>): MigrationFacts => ({ complete: false, staging: false, switched: false, foreignMount: null, dataDirExists: true, dataDirEmpty: false, ...f });
test('migration steps follow what is on disk', () => {
  const copy = toDefinition('a', { ...good, format: 'dvm.app/1', migrate: 'copy' });
  const none = toDefinition('a', { ...good, format: 'dvm.app/1', migrate: 'none' });
  assert.is(nextMigrationStep(copy, facts({})).kind, 'copy');
  assert.is(nextMigrationStep(copy, facts({ staging: true })).kind, 'copy');
  assert.is(nextMigrationStep(none, facts({})).kind, 'init-empty');
  assert.is(nextMigrationStep(copy, facts({ dataDirEmpty: true })).kind, 'init-empty');
  assert.is(nextMigrationStep(copy, facts({ dataDirExists: false })).kind, 'init-empty');
  assert.is(nextMigrationStep(copy, facts({ complete: true })).kind, 'set-aside');
  assert.is(nextMigrationStep(copy, facts({ complete: true, dataDirEmpty: true })).kind, 'bind');
  assert.is(nextMigrationStep(copy, facts({ complete: true, dataDirExists: false })).kind, 'make-dir');
  assert.is(nextMigrationStep(copy, facts({ switched: true })).kind, 'done');
  assert.is(nextMigrationStep(copy, facts({ foreignMount: 'tmpfs /' })).kind, 'refuse');
});

const CLUSTER = '00000000-0000-4000-8000-000000000000';
const vol = (id: string, size = 1 << 30): Volume => ({ id, dataset: null, name: id, size, status: 'available', attached: null, metadata: {} });
let n = 0;
const newId = () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
const empty: DatasetsDoc = { format: 'dvm.datasets/1', cluster: CLUSTER, datasets: {} };

test('volume map: the seed form and YAML; adopt each volume bound to its unit', () => {
  const map = parseVolumeMap('{"cassandra/0": "vol-00000081", "cassandra/5": "vol-00000082"}', 'n1');
  const { doc, changes } = applyVolumeMap({ doc: empty, map, volumes: [vol('vol-00000081'), vol('vol-00000082', 2 << 30)], now: '2026-12-02T03:00:00Z', newId });
  const ds = Object.values(doc.datasets);
  assert.equal(ds.map((d) => [d.name, d.app, d.node, d.volume, d.size, d.meta?.[UNIT_KEY]]), [
    ['cassandra-0', 'cassandra', 'n1', 'vol-00000081', 1 << 30, 'cassandra/0'],
    ['cassandra-5', 'cassandra', 'n1', 'vol-00000082', 2 << 30, 'cassandra/5'],
  ]);
  assert.is(changes.length, 2);
  const yaml = parseVolumeMap('cassandra/0:\n  volume: vol-00000081\n  node: n2\n', null);
  assert.equal(yaml.get('cassandra/0'), { volume: 'vol-00000081', node: 'n2', mount: null });
});

test('volume map: a changed node moves the unit; a unit leaving the map detaches and keeps the volume', () => {
  const volumes = [vol('vol-a'), vol('vol-b')];
  const first = applyVolumeMap({ doc: empty, map: parseVolumeMap('{"svc/0":"vol-a","svc/1":"vol-b"}', 'n1'), volumes, now: 't', newId }).doc;
  const moved = applyVolumeMap({ doc: first, map: parseVolumeMap('{"svc/0":{"volume":"vol-a","node":"n2"},"svc/1":"vol-b"}', 'n1'), volumes, now: 't', newId });
  assert.equal(moved.changes, ['svc-0: unit \'svc/0\' moves n1 -> n2']);
  const left = applyVolumeMap({ doc: moved.doc, map: parseVolumeMap('{"svc/0":{"volume":"vol-a","node":"n2"}}', null), volumes, now: 't', newId });
  const d1 = Object.values(left.doc.datasets).find((d) => d.name === 'svc-1')!;
  assert.is(d1.node, null);
  assert.is(d1.deleted, false, 'never destroyed');
  assert.is(d1.app, undefined);
  assert.is(d1.volume, 'vol-b');
  assert.is(Object.keys(left.doc.datasets).length, 2);
  // Applying the same map again changes nothing.
  assert.equal(applyVolumeMap({ doc: left.doc, map: parseVolumeMap('{"svc/0":{"volume":"vol-a","node":"n2"}}', null), volumes, now: 't', newId }).changes, []);
});

test('volume map: bad maps are refused with the unit named', () => {
  const bad: [string, RegExp][] = [
    ['[1,2]', /expected an object/],
    ['{"a/0": "vol-1", "a/1": "vol-1"}', /mapped to both/],
    ['{"../x": "vol-1"}', /SERVICE/],
    ['{"a/0": "../../dev/sda"}', /invalid volume id/],
    ['{"a/0": {"volume": "vol-1", "node": "n 1"}}', /invalid node/],
    ['{"a/0": {"volume": "vol-1", "extra": 1}}', /unknown key/],
    ['a: [unclosed', /not JSON or YAML/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseVolumeMap(text, 'n1'), (e: Error) => e instanceof MapError && re.test(e.message), text);
  assert.throws(() => parseVolumeMap('{"a/0": "vol-1"}', null), /no node/);
  assert.throws(() => applyVolumeMap({ doc: empty, map: parseVolumeMap('{"a/0":"vol-x"}', 'n1'), volumes: [], now: 't', newId }), /not in the backend listing/);
});

test('app-start stops first (a start a killed agent did not record may still run), then records the start; a failing start is the error, unrecorded', async () => {
  const runtime = path.join(dir, 'run');
  const calls: string[] = [];
  let failStart = false;
  const run = async (cmd: string, args: readonly string[]) => {
    calls.push([cmd, ...args].join(' '));
    return failStart && args[0] === 'start' ? { code: 3, stdout: '', stderr: 'cannot start\n' } : { code: 0, stdout: '', stderr: '' };
  };
  const def = toDefinition('svc', { ...good, stop: ['svcctl', 'stop'], start: ['svcctl', 'start'] });
  const fx = { run, apps: { dir, apps: new Map([['svc', def]]), problems: new Map() }, runtimeDir: runtime, mounts: async () => [], now: () => new Date('2026-12-02T03:00:00Z'), log: () => {} };
  const step = { dataset: 'x', action: 'app-start' as const, runs_on: 'node:n1', volume: 'vol-1', args: { app: 'svc', path: '/mnt/x' }, expect: '', deadline_ms: 1 };
  await appStart(step, fx);
  assert.equal(calls, ['svcctl stop', 'svcctl start']);
  assert.is(readStarted(runtime, 'vol-1')?.app, 'svc');
  clearStarted(runtime, 'vol-1');
  failStart = true;
  const err = await appStart(step, fx).then(() => null, (e: Error) => e);
  assert.match(err?.message ?? 'no error', /start of application 'svc' failed: 'svcctl start' exit 3: cannot start/);
  assert.is(readStarted(runtime, 'vol-1'), null);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
