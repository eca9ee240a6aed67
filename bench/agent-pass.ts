// The cost of a converged agent pass (nothing to do) on loopback with 100
// datasets, mounted on real loop devices, and the backend calls it makes
// (target: the one listing). Root: loop devices, mkfs, mount.
// Run: node dist/bench/agent-pass.js [N] (npm run bench runs it where root).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDirStore } from '../src/agent/store/dir/dir-store.js';
import { openBackend } from '../src/agent/backend/registry.js';
import { commandRunner, realHost } from '../src/agent/apply/index.js';
import { CallCounter, countingBackend, formatCounts } from '../src/agent/loop/counting.js';
import { runPass, type AgentContext } from '../src/agent/loop/pass.js';
import * as change from '../src/agent/cli/changes.js';

const N = Number(process.argv[2] ?? 100);
const PASSES = Number(process.env.DVM_BENCH_RUNS ?? 5);

export async function agentPassBench(n = N): Promise<{ datasets: number; medianMs: number; minMs: number; counts: string; convergeS: number }> {
  const work = mkdtempSync(path.join(tmpdir(), 'dvm-bench-agent-'));
  const lb = path.join(work, 'lb');
  const mnt = path.join(work, 'mnt');
  mkdirSync(lb);
  mkdirSync(mnt);
  const store = await openDirStore(path.join(work, 'store'), { create: true });
  const cluster = (await store.readDesired()).value.cluster;
  const raw = await openBackend(`loopback:${lb}?per_node=none`, { node: 'n1', credentialed: true, cluster });
  const counter = new CallCounter();
  const backend = countingBackend(raw, counter);
  const leadership = await store.campaign('n1');
  await leadership.elected;
  const ctx: AgentContext = {
    node: 'n1', credentialed: true, spec: `loopback:${lb}?per_node=none`, store, backend, leadership,
    host: realHost(commandRunner()), mountRoot: mnt, appsDir: null, now: () => new Date(), log: () => {}, stopping: () => false, memo: {},
  };
  try {
    for (let i = 0; i < n; i++)
      await store.updateDesired((d) => change.create(d, { name: `d${i}`, size: 4 << 20, filesystem: 'ext4', node: 'n1', mount: null, meta: {} }, new Date()));
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) {
      const r = await runPass(ctx);
      if (r.outcome.converged) break;
      if (i === 49) throw new Error('not converged after 50 passes');
    }
    const convergeS = (performance.now() - t0) / 1000;
    const times: number[] = [];
    let counts = '';
    for (let i = 0; i < PASSES; i++) {
      counter.take();
      const t = performance.now();
      const r = await runPass(ctx);
      times.push(performance.now() - t);
      if (!r.outcome.converged) throw new Error('a converged pass found work');
      counts = formatCounts(counter.take());
    }
    times.sort((a, b) => a - b);
    return { datasets: n, medianMs: times[Math.floor(times.length / 2)], minMs: times[0], counts, convergeS };
  } finally {
    await leadership.resign();
    await store.close();
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const p = line.split(' ')[4];
      if (p?.startsWith(mnt + '/')) execFileSync('umount', [p]);
    }
    try {
      for (const l of execFileSync('losetup', ['-a', '-n', '-O', 'NAME,BACK-FILE'], { encoding: 'utf8' }).split('\n')) {
        const [dev, file] = l.trim().split(/\s+/);
        if (file?.startsWith(lb + '/')) execFileSync('losetup', ['-d', dev]);
      }
    } finally {
      await raw.close();
      rmSync(work, { recursive: true, force: true });
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await agentPassBench();
  console.log(`agent: converged pass, loopback, ${r.datasets} datasets mounted: median ${r.medianMs.toFixed(0)} ms (min ${r.minMs.toFixed(0)}) over ${PASSES} passes; backend calls per pass: ${r.counts}; first convergence ${r.convergeS.toFixed(1)} s`);
}
