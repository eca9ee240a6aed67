// A move's downtime on loopback with real agents: three dataset-agent
// processes (a data-less credentialed controller c, data nodes n1 and n2, each
// in its own mount namespace) on one etcd member and one loopback:DIR; an ext4
// dataset with a file on it moved n1 -> n2 -> n1 ... with
// `dataset move --wait`. Per move it reports:
//   - downtime: from the start of the unmount on the old node to the end of
//     the mount on the new one (from the agents' step log lines: each ends
//     with its duration), the time the data is reachable nowhere;
//   - total: from `dataset move` started to it returning (mounted on the
//     target, reported converged by the target's agent).
// Root: loop devices, mkfs, mount, unshare; etcd from Debian's etcd-server.
// Run: npm run bench (or node dist/bench/move-downtime.js [MOVES]).
import { performance } from 'node:perf_hooks';
import { Cluster } from '../test/helpers/agent-cluster.js';
import { startEtcd } from '../test/helpers/etcd.js';

const MOVES = Number(process.argv[2] ?? process.env.DVM_BENCH_RUNS ?? 5);
const TTL = '6';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Step lines `<time> <node> <name> <action> <volume> ok (<ms> ms)`: when each began and ended. */
function steps(log: string, name: string, action: string): { start: number; end: number }[] {
  const re = new RegExp(`^(\\S+) \\S+ ${name} ${action} \\S+ ok \\((\\d+) ms\\)`, 'gm');
  return [...log.matchAll(re)].map((m) => ({ end: Date.parse(m[1]), start: Date.parse(m[1]) - Number(m[2]) }));
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('move downtime: not run (needs root: loop devices, mount namespaces)');
    return;
  }
  const etcd = await startEtcd();
  const c = new Cluster({ store: etcd.spec('dvm/bench') });
  const env = { DVM_ETCD_LEASE_TTL: TTL };
  try {
    if ((await c.dataset('list')).exitCode !== 0) throw new Error('the store did not answer');
    c.start('c', { credentialed: true, env });
    c.start('n1', { env });
    c.start('n2', { env });
    for (const n of ['c', 'n1', 'n2']) while (!/ pass /.test(c.log(n))) await sleep(100);
    const made = await c.dataset('create', 'bench', '--size', '64M', '--node', 'n1', '--wait', '--timeout', '300');
    if (made.exitCode !== 0) throw new Error(`create: ${made.stderr}`);
    c.inNode('n1', 'sh', ['-c', `head -c 1048576 /dev/urandom > '${c.mountRoot('n1')}/bench/data' && sync`]);
    const downtime: number[] = [];
    const total: number[] = [];
    for (let i = 0; i < MOVES; i++) {
      const from = i % 2 === 0 ? 'n1' : 'n2';
      const to = i % 2 === 0 ? 'n2' : 'n1';
      const marks = { from: c.log(from).length, to: c.log(to).length };
      const t0 = performance.now();
      const r = await c.dataset('move', 'bench', '--to', to, '--wait', '--timeout', '300');
      const took = performance.now() - t0;
      if (r.exitCode !== 0) throw new Error(`move ${i + 1} to ${to}: ${r.stderr}`);
      const unmount = steps(c.log(from).slice(marks.from), 'bench', 'unmount')[0];
      const mounts = steps(c.log(to).slice(marks.to), 'bench', 'mount');
      const mount = mounts[mounts.length - 1];
      if (!unmount || !mount) throw new Error(`move ${i + 1}: no unmount on ${from} or mount on ${to} in the logs`);
      downtime.push(mount.end - unmount.start);
      total.push(took);
      // Let the agents settle into their converged sleep: every move starts from a quiet cluster.
      await sleep(1500);
    }
    const load = (await import('node:os')).loadavg()[0].toFixed(1);
    console.log(`move downtime (loopback, etcd, 3 agents, ext4 64M, ${MOVES} moves, load ${load}):`);
    console.log(`  downtime (unmount start on the old node -> mount end on the new): median ${median(downtime).toFixed(0)} ms, min ${Math.min(...downtime).toFixed(0)}, max ${Math.max(...downtime).toFixed(0)}`);
    console.log(`  total (dataset move --wait, to mounted and reported):            median ${median(total).toFixed(0)} ms, min ${Math.min(...total).toFixed(0)}, max ${Math.max(...total).toFixed(0)}`);
    console.log(`  each: ${downtime.map((d, k) => `${d.toFixed(0)}/${total[k].toFixed(0)}`).join(' ')} ms (downtime/total)`);
  } finally {
    await c.destroy();
    await etcd.stop();
  }
}

await main();
