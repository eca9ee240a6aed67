// The downtime of moving an application between nodes: Debian's PostgreSQL
// on a loopback dataset (two agents, each node a mount namespace of its
// own), moved back and forth by the volume map. Downtime is what a client
// sees: from the last answer of the old node's server to the first answer of
// the new node's (`SHOW data_directory` through psql every ~50 ms, so the
// figures carry that much resolution); also the time from the map change to
// `dataset status --wait` converged. Root: loop devices, mounts, runuser.
// Run: npm run bench (or node dist/bench/app-move.js [MOVES]).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Cluster } from '../test/helpers/agent-cluster.js';
import { ROOT } from '../test/helpers/cli.js';
import { ensurePackages } from '../test/helpers/packages.js';
import { clusterAt, makeCluster } from '../test/helpers/postgres.js';
import { applyMap, clearRuntime, defineApp, nodeName, premadeVolume, waitConverged, waitListed } from '../test/helpers/apps-cluster.js';

const MOVES = Number(process.argv[2] ?? process.env.DVM_BENCH_RUNS ?? 5);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface AppMoveResult {
  moves: number;
  downtimeMs: number[];
  convergeMs: number[];
}

export async function appMoveBench(moves = MOVES): Promise<AppMoveResult> {
  ensurePackages({ rsync: '/usr/bin/rsync', postgresql: null });
  const nodes = [nodeName(1), nodeName(2)];
  const c = new Cluster({ nodeNamespaces: true });
  chmodSync(c.work, 0o711); // postgres walks through it
  try {
    for (const n of nodes) mkdirSync(path.join(c.work, n), { mode: 0o755 });
    const sock = path.join(c.work, 'pgsock');
    const port = 55000 + (process.pid % 1000);
    const pgs = nodes.map((n, i) => (i === 0 ? makeCluster : clusterAt)(path.join(c.work, n, 'pg'), sock, port));
    nodes.forEach((n, i) => defineApp(c, n, 'pg', pgs[i].app));
    execFileSync((pgs[0].app as { start: string[] }).start[0], (pgs[0].app as { start: string[] }).start.slice(1), { stdio: 'ignore' });
    pgs[0].sql('CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 10000) g');
    const vol = premadeVolume(c, 256 << 20);
    c.start(nodes[0], { credentialed: true, args: ['--apps-dir', path.join(c.work, `apps-${nodes[0]}`)] });
    c.start(nodes[1], { args: ['--apps-dir', path.join(c.work, `apps-${nodes[1]}`)] });
    await waitListed(c, [vol]);
    await applyMap(c, { 'pg/0': vol }, nodes[0]);
    await waitConverged(c, 'first placement', 300);

    // Which node's server answers, if any (psql's refusals while none does are expected: not printed).
    const psql = ['-u', 'postgres', '--', path.join(pgs[0].bin, 'psql'), '-h', sock, '-p', String(port), '-U', 'postgres', '-At', '-c', 'SHOW data_directory'];
    const answer = (): string | null => {
      try {
        return execFileSync('runuser', psql, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      } catch {
        return null;
      }
    };
    const result: AppMoveResult = { moves, downtimeMs: [], convergeMs: [] };
    for (let m = 0; m < moves; m++) {
      const from = m % 2;
      const to = 1 - from;
      if (answer() !== pgs[from].dataDir) throw new Error(`move ${m + 1}: the server on ${nodes[from]} does not answer before the move\n${c.logs()}`);
      const t0 = performance.now();
      let lastOld = t0;
      let firstNew: number | null = null;
      const converged = applyMap(c, { 'pg/0': { volume: vol, node: nodes[to] } }, nodes[0]).then(() => waitConverged(c, `move ${m + 1}`, 300));
      let done = false;
      void converged.then(() => (done = true), () => (done = true));
      while (firstNew === null) {
        const t = performance.now();
        const a = answer();
        if (a === pgs[from].dataDir) lastOld = performance.now();
        else if (a === pgs[to].dataDir) firstNew = t;
        else if (done && a === null) break;
        if (t - t0 > 300_000) break;
        await sleep(50);
      }
      await converged;
      if (firstNew === null) firstNew = performance.now();
      if (answer() !== pgs[to].dataDir) throw new Error(`move ${m + 1}: the server on ${nodes[to]} does not answer after the move\n${c.logs()}`);
      result.downtimeMs.push(firstNew - lastOld);
      result.convergeMs.push(performance.now() - t0);
    }
    for (const n of nodes) await c.stop(n);
    return result;
  } finally {
    await c.destroy();
    clearRuntime(nodes);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.getuid?.() !== 0) {
    console.log('app-move: NOT RUN: needs root (loop devices, mounts, runuser)');
  } else {
    const r = await appMoveBench();
    const load = execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ');
    const f = (xs: number[]) => `median ${(median(xs) / 1000).toFixed(2)} s (min ${(Math.min(...xs) / 1000).toFixed(2)}, max ${(Math.max(...xs) / 1000).toFixed(2)})`;
    console.log(`app-move: PostgreSQL moved between two loopback nodes by the volume map, ${r.moves} moves (load ${load})`);
    console.log(`  downtime (last answer on the old node -> first on the new): ${f(r.downtimeMs)}`);
    console.log(`  map change -> status --wait converged:                   ${f(r.convergeMs)}`);
    const dir = path.join(ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-app-move.json`);
    writeFileSync(file, JSON.stringify({ bench: 'app-move', at: new Date().toISOString(), load, ...r }, null, 1) + '\n');
    console.log(`  written to ${path.relative(ROOT, file)}`);
  }
}
