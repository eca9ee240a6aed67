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
