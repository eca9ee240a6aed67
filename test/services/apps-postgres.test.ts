// The seed's acceptance test with a real database: Debian's PostgreSQL
// (installed when missing) runs on node n1 from a plain data directory; a
// volume map gives it an empty loopback volume: the agent stops it, copies
// its data onto the dataset, switches the data directory and starts it from
// there, and the rows written before are there; the map moves the unit to
// n2: stopped, moved, started, the same rows there. Each node is a mount
// namespace of its own, so n2 sees the data only through the dataset.
// PostgreSQL listens on a Unix socket only (no TCP).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Cluster } from '../helpers/agent-cluster.js';
import { ensurePackages } from '../helpers/packages.js';
import { clusterAt, makeCluster, type Pg } from '../helpers/postgres.js';
import { applyMap, clearRuntime, defineApp, mountLine, nodeName, premadeVolume, statusOf, waitConverged, waitListed } from '../helpers/apps-cluster.js';

const MiB = 1 << 20;
const N1 = nodeName(1);
const N2 = nodeName(2);
const PORT = 54000 + (process.pid % 1000);
let c: Cluster;
let pg1: Pg | null = null;

const run = (argv: string[]) => execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const digest = (pg: Pg) => pg.sql('SELECT count(*) || \' \' || md5(string_agg(id || \':\' || v, \',\' ORDER BY id)) FROM t');

test.before(() => {
  ensurePackages({ rsync: '/usr/bin/rsync', e2fsprogs: '/sbin/mkfs.ext4', postgresql: null });
  c = new Cluster({ nodeNamespaces: true });
  // The postgres user walks through the work directory to its data and socket.
  chmodSync(c.work, 0o711);
});
test.after(async () => {
  // Still running from the plain directory (a failure before the migration): stopped here, in our namespace.
  if (pg1) {
    try {
      run(['runuser', '-u', 'postgres', '--', path.join(pg1.bin, 'pg_ctl'), 'stop', '-m', 'immediate', '-D', pg1.dataDir]);
    } catch {
      /* not running */
    }
  }
  await c.destroy();
  clearRuntime([N1, N2]);
});

test('PostgreSQL: migrated from its plain directory onto an empty volume by the map, then moved to n2; the rows survive both', async () => {
  const w = c.work;
  for (const n of [N1, N2]) mkdirSync(path.join(w, n), { mode: 0o755 });
  const sock = path.join(w, 'pgsock');
  pg1 = makeCluster(path.join(w, N1, 'pg'), sock, PORT);
  // The same cluster as n2 serves it, from n2's data directory (both nodes share the socket directory:
  // a second postmaster could not bind it while the first runs).
  const pg2 = clusterAt(path.join(w, N2, 'pg'), sock, PORT);
  defineApp(c, N1, 'pg', pg1.app);
  defineApp(c, N2, 'pg', pg2.app);

  run((pg1.app as { start: string[] }).start);
  pg1.sql('CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL)');
  pg1.sql("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g");
  const before = digest(pg1);
  assert.match(before, /^5000 [0-9a-f]{32}$/);

  const vol = premadeVolume(c, 256 * MiB);
  c.start(N1, { credentialed: true, args: ['--apps-dir', path.join(w, `apps-${N1}`)] });
  c.start(N2, { args: ['--apps-dir', path.join(w, `apps-${N2}`)] });
  await waitListed(c, [vol]);
  await applyMap(c, { 'pg/0': vol }, N1);
  await waitConverged(c, 'pg/0 mapped on n1', 300);

  const st = (await statusOf(c, 'pg-0')).status!;
  assert.is(st.observed?.node, N1);
  const bind = mountLine(c, N1, pg1.dataDir);
  assert.ok(bind && bind.split(' ')[3] === '/data', `n1's data directory is the dataset's data/: ${bind}`);
  assert.is(pg1.sql('SHOW data_directory'), pg1.dataDir);
  assert.is(digest(pg1), before, 'the rows written before are there');
  const aside = readdirSync(path.join(w, N1)).filter((f) => f.startsWith('pg.dvm-old-'));
  assert.is(aside.length, 1, 'the old data directory is kept, renamed');
  assert.ok(existsSync(path.join(w, N1, aside[0], 'PG_VERSION')));
  // Written on the dataset, to be read on n2.
  pg1.sql("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(5001, 6000) g");
  const onDataset = digest(pg1);

  const t0 = Date.now();
  await applyMap(c, { 'pg/0': { volume: vol, node: N2 } }, N1);
  await waitConverged(c, 'pg/0 moved to n2', 300);
  const moveMs = Date.now() - t0;
  assert.is((await statusOf(c, 'pg-0')).status!.observed?.node, N2);
  assert.ok(!mountLine(c, N1, pg1.dataDir), 'no longer served on n1');
  assert.ok(mountLine(c, N2, pg2.dataDir), 'served on n2');
  assert.is(pg2.sql('SHOW data_directory'), pg2.dataDir, 'the server answering is n2\'s');
  assert.is(digest(pg2), onDataset, 'every row is there on n2');
  assert.is(c.mkfsCalls().length, 1, `one mkfs: ${c.mkfsCalls().join('; ')}`);
  console.log(`NOTE apps-postgres: move n1 -> n2 ${(moveMs / 1000).toFixed(1)} s (map applied to converged)`);
  for (const n of [N1, N2]) assert.is((await c.stop(n)).code, 0, `${n} exits 0 on SIGTERM`);
});

test.run();
