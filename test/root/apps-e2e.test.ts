// Applications end to end on loopback with real agents, each node in its own
// mount namespace: the seed's workflow. Volumes are made outside any
// service's lifetime; a volume map gives a unit its volume; an empty volume
// gets the service's existing data migrated onto it; the map moves the unit
// to another node (stop, move, start); a volume that already holds the data
// is served without mkfs or copy; a unit leaving the map keeps its volume;
// and the real application, Debian's PostgreSQL, keeps its rows across a
// migration and a move.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Cluster } from '../helpers/agent-cluster.js';
import { ensurePackages } from '../helpers/packages.js';
import { makeCluster, clusterAt } from '../helpers/postgres.js';
import type { DatasetsDoc, DatasetStatus } from '../../src/agent/docs.js';
import { ROOT } from '../helpers/cli.js';

const STANDIN = path.join(ROOT, 'test/fixtures/standin-service.sh');
let c: Cluster;
const MiB = 1024 * 1024;

async function waitConverged(what: string, timeout = 240): Promise<void> {
  const r = await c.dataset('status', '--wait', '--timeout', String(timeout));
  if (r.exitCode !== 0) throw new Error(`${what}: status --wait exited ${r.exitCode}\n${r.stdout}${r.stderr}\n--- n1\n${c.log('n1').slice(-4000)}\n--- n2\n${c.log('n2').slice(-4000)}`);
}
async function statusOf(name: string): Promise<DatasetStatus> {
  const r = await c.dataset('status', '--json');
  const doc = JSON.parse(r.stdout) as { datasets: Record<string, { name: string; status: DatasetStatus }> };
  return Object.values(doc.datasets).find((d) => d.name === name)!.status;
}
async function desired(): Promise<DatasetsDoc> {
  return JSON.parse((await c.dataset('list', '--json')).stdout) as DatasetsDoc;
}

/**
 * Volumes made outside any service's lifetime (as the operator's
 * `euca-create-volume`): in the loopback backend's own layout, carrying no
 * dataset or cluster id, as a volume made by another tool would.
 */
let vols = 0;
async function makeVolume(size = 96 * MiB): Promise<string> {
  const id = `lb-${(0xa0000000 + ++vols).toString(16).padStart(16, '0')}`;
  const dir = path.join(c.lb, 'volumes');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${id}.img`), '');
  truncateSync(path.join(dir, `${id}.img`), size);
  writeFileSync(path.join(dir, `${id}.json`), JSON.stringify({ format: 'dvm.loopback-volume/1', id, name: `ops-${vols}`, metadata: {}, attached: null, created_at: new Date().toISOString() }));
  return id;
}

function defineApp(node: string, name: string, def: object): void {
  const dir = path.join(c.work, `apps-${node}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(def));
  chmodSync(path.join(dir, `${name}.json`), 0o644);
}
const appsArgs = (node: string) => ['--apps-dir', path.join(c.work, `apps-${node}`)];
const standin = (dataDir: string) => ({ format: 'dvm.app/1', stop: [STANDIN, 'stop', dataDir], start: [STANDIN, 'start', dataDir], data_dir: dataDir, migrate: 'copy' });
const sums = (node: string, dir: string) => c.inNode(node, 'sh', ['-c', `cd '${dir}' && sha256sum --quiet -c MANIFEST && cat MANIFEST`]);

async function map(text: string): Promise<void> {
  const f = path.join(c.work, `map-${Date.now()}.json`);
  writeFileSync(f, text);
  const r = await c.dataset('map', '--apply', f, '--node', 'n1');
  assert.is(r.exitCode, 0, r.stderr);
}

test.before(() => {
  ensurePackages({ rsync: '/usr/bin/rsync' });
  c = new Cluster();
});
test.after(async () => {
  await c.destroy();
});

test('stand-in service: migrated onto an empty volume, moved n1 -> n2 by the map, a second unit starts empty, a pre-made volume served as it is, an unmapped unit keeps its volume', async () => {
  const d1 = path.join(c.work, 'n1-standin');
  const d2 = path.join(c.work, 'n2-standin');
  defineApp('n1', 'standin', standin(d1));
  defineApp('n2', 'standin', standin(d2));
  // The service runs on n1 from a plain directory before any volume exists.
  mkdirSync(d1);
  execFileSync(STANDIN, ['start', d1]);
  execFileSync(STANDIN, ['start', d1]);
  const original = execFileSync('cat', [path.join(d1, 'MANIFEST')], { encoding: 'utf8' });
  const [v0, v1] = [await makeVolume(), await makeVolume()];

  c.start('n1', { credentialed: true, args: appsArgs('n1') });
  c.start('n2', { args: appsArgs('n2') });
  await map(`{"standin/0": "${v0}"}`);
  await waitConverged('standin/0 on n1');
  const st = await statusOf('standin-0');
  assert.is(st.observed?.node, 'n1');
  let m = sums('n1', d1);
  assert.ok(m.startsWith(original), 'the migrated data holds every record the service had');
  assert.is(m.trim().split('\n').length, 3, 'and the service started once more, from the dataset');
  assert.match(c.mountsOf('n1'), new RegExp(` ${d1} `), 'the data directory is served from the dataset in n1');
  assert.is(c.mkfsCalls().length, 1);

  // The map moves the unit to n2: stop on n1, unmount, detach, attach, mount, start on n2.
  await map(`{"standin/0": {"volume": "${v0}", "node": "n2"}}`);
  await waitConverged('standin/0 moved to n2');
  m = sums('n2', d2);
  assert.ok(m.startsWith(original));
  assert.is(m.trim().split('\n').length, 4);
  assert.not.match(c.mountsOf('n1'), new RegExp(` ${d1} `), 'n1 no longer serves it');

  // A second unit with an empty volume on n1: nothing left to migrate there (the old data was set aside), so it starts empty.
  await map(`{"standin/0": {"volume": "${v0}", "node": "n2"}, "standin/1": "${v1}"}`);
  await waitConverged('standin/1 on n1');
  assert.is(sums('n1', d1).trim().split('\n').length, 1, 'a fresh service: one record, its own');
  assert.is(c.mkfsCalls().length, 2);

  // A volume that already holds the service's data, made beforehand by hand: no mkfs, no copy, the same filesystem.
  const v2 = await makeVolume();
  const img = path.join(c.lb, 'volumes', `${v2}.img`);
  const loop = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8' }).trim();
  execFileSync('/sbin/mkfs.ext4', ['-q', '-F', loop]);
  const uuid = execFileSync('blkid', ['-p', '-s', 'UUID', '-o', 'value', loop], { encoding: 'utf8' }).trim();
  const pre = path.join(c.work, 'premade');
  mkdirSync(pre);
  execFileSync('mount', [loop, pre]);
  mkdirSync(path.join(pre, 'data'));
  execFileSync(STANDIN, ['start', path.join(pre, 'data')]);
  const premade = execFileSync('cat', [path.join(pre, 'data/MANIFEST')], { encoding: 'utf8' });
  execFileSync('umount', [pre]);
  execFileSync('losetup', ['-d', loop]);
  const d3 = path.join(c.work, 'n1-other');
  defineApp('n1', 'other', standin(d3));
  await map(`{"standin/0": {"volume": "${v0}", "node": "n2"}, "standin/1": "${v1}", "other/0": "${v2}"}`);
  await waitConverged('other/0 on n1');
  const o = sums('n1', d3);
  assert.ok(o.startsWith(premade), 'served from the data it held');
  assert.is((await statusOf('other-0')).formatted?.uuid, uuid, 'its filesystem kept (recorded, never made)');
  assert.is(c.mkfsCalls().length, 2, 'no mkfs for the pre-made volume');

  // standin/1 leaves the map: stopped and detached; its volume stays, listed.
  await map(`{"standin/0": {"volume": "${v0}", "node": "n2"}, "other/0": "${v2}"}`);
  await waitConverged('standin/1 unmapped');
  const left = Object.values((await desired()).datasets).find((d) => d.name === 'standin-1')!;
  assert.is(left.node, null);
  assert.is(left.deleted, false);
  assert.not.match(c.mountsOf('n1'), new RegExp(` ${d1} `));
  const list = await c.dataset('list');
  assert.match(list.stdout, /standin-1/);
  const destroy = await c.dataset('destroy', 'other-0');
  assert.is(destroy.exitCode, 1, 'a dataset bound to a running application is not destroyed');
  await c.stop('n1');
  await c.stop('n2');
});

test("PostgreSQL: a plain data directory migrated onto an empty volume by the map, then moved n1 -> n2; the rows are there each time", async () => {
  ensurePackages({ postgresql: null });
  // The postgres user must reach its data and socket directories under the test's 0700 work directory.
  chmodSync(c.work, 0o711);
  const sock = path.join(c.work, 'pgsock');
  const p1 = path.join(c.work, 'n1-pg');
  const p2 = path.join(c.work, 'n2-pg');
  const pg1 = makeCluster(p1, sock, 55431);
  const pg2 = clusterAt(p2, sock, 55431);
  defineApp('n1', 'postgres', pg1.app);
  defineApp('n2', 'postgres', pg2.app);
  execFileSync(pg1.app['start' as never][0], (pg1.app['start' as never] as string[]).slice(1));
  pg1.sql("create table moved (id int primary key, note text); insert into moved select g, 'row ' || g from generate_series(1, 1000) g");
  const v = await makeVolume(256 * MiB);
  c.start('n1', { credentialed: true, args: appsArgs('n1') });
  c.start('n2', { args: appsArgs('n2') });
  await map(`{"postgres/0": "${v}"}`);
  await waitConverged('postgres/0 on n1', 300);
  assert.is(pg1.sql('select count(*), sum(id) from moved'), '1000|500500');
  assert.match(c.mountsOf('n1'), new RegExp(` ${p1} `));
  pg1.sql("insert into moved values (1001, 'written on the dataset')");
  await map(`{"postgres/0": {"volume": "${v}", "node": "n2"}}`);
  await waitConverged('postgres/0 moved to n2', 300);
  assert.is(pg2.sql('select count(*), max(note) filter (where id = 1001) from moved'), '1001|written on the dataset');
  assert.match(c.mountsOf('n2'), new RegExp(` ${p2} `));
  // Stopped by unmapping (the volume stays).
  await map('{}');
  await waitConverged('postgres/0 unmapped', 300);
});

test.run();
