// Timing and peak memory of whole commands, as a user would run them.
import { execFileSync, spawnSync } from 'node:child_process';

export interface Sample {
  ms: number;
  maxRssKiB: number;
}

/** Run `sh -c cmd` under GNU time; wall clock from here, peak RSS of the largest process. */
export function sample(cmd: string, env: NodeJS.ProcessEnv = process.env): Sample {
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', 'sh', '-c', cmd], { env, encoding: 'utf8', maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`bench command failed (${r.status}): ${cmd}\n${r.stderr.split('\n').slice(-6).join('\n')}`);
  const lines = r.stderr.trim().split('\n');
  return { ms, maxRssKiB: Number(lines[lines.length - 1]) };
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** `runs` samples of `cmd(i)`, after `prepare(i)` (not timed). Medians. */
export function measure(runs: number, cmd: (i: number) => string, env?: NodeJS.ProcessEnv, prepare?: (i: number) => void): Sample {
  const s: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    prepare?.(i);
    s.push(sample(cmd(i), env));
  }
  return { ms: median(s.map((x) => x.ms)), maxRssKiB: Math.max(...s.map((x) => x.maxRssKiB)) };
}

export function sh(cmd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync('sh', ['-c', cmd], { env, encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The two environments every dvm case runs in (bench/README.md, "Both ways"). */
export interface Envs {
  /** the environment as this machine has it (NODE_EXTRA_CA_CERTS included, where set) */
  machine: NodeJS.ProcessEnv;
  /** the same without NODE_EXTRA_CA_CERTS */
  bare: NodeJS.ProcessEnv;
}

export function envs(base: NodeJS.ProcessEnv = process.env): Envs {
  const bare = { ...base };
  delete bare.NODE_EXTRA_CA_CERTS;
  return { machine: { ...base }, bare };
}

/**
 * `runs` samples in each environment, interleaved (and the order swapped every
 * run) so that the machine's drift lands on both alike. `cmd(i, which)` gets a
 * distinct i per sample: creates need distinct names.
 */
export function measureBoth(runs: number, cmd: (i: number, which: 'machine' | 'bare') => string, e: Envs): { machine: Sample; bare: Sample } {
  const got: Record<'machine' | 'bare', Sample[]> = { machine: [], bare: [] };
  for (let i = 0; i < runs; i++) {
    const order: ('machine' | 'bare')[] = i % 2 ? ['bare', 'machine'] : ['machine', 'bare'];
    for (const w of order) got[w].push(sample(cmd(i, w), e[w]));
  }
  const med = (s: Sample[]): Sample => ({ ms: median(s.map((x) => x.ms)), maxRssKiB: Math.max(...s.map((x) => x.maxRssKiB)) });
  return { machine: med(got.machine), bare: med(got.bare) };
}
