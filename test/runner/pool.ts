// Runs test files, each in its own uvu process, a few at a time, and counts
// what uvu reports. One process per file: a file that hangs, crashes or
// leaves state behind harms only itself, and each file gets its own time.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT, type TestFile } from './files.js';

const UVU = path.join(ROOT, 'node_modules/uvu/bin.js');

export interface Count {
  passed: number;
  failed: number;
  skipped: number;
}

export interface FileResult extends Count {
  file: TestFile;
  code: number;
  ms: number;
  out: string;
}

export const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** uvu ends with Total/Passed/Skipped lines; a file that exits non-zero has failed whatever they say. */
export function countOf(code: number, out: string): Count {
  const text = stripAnsi(out);
  const sum = (label: string) => [...text.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
  const total = sum('Total');
  const passed = sum('Passed');
  const skipped = sum('Skipped');
  const failed = Math.max(total - passed - skipped, code === 0 && total > 0 ? 0 : 1);
  return { passed, failed, skipped };
}

function runFile(file: TestFile, env: NodeJS.ProcessEnv, timeoutS: number): Promise<FileResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    // uvu walks DIR and runs files whose path inside it matches the pattern.
    const child = spawn(process.execPath, [UVU, path.dirname(file.built), `^${escape(path.basename(file.built))}$`], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      out += `\ntest runner: ${file.tier}/${file.rel} still running after ${timeoutS} s: killed (DVM_TEST_FILE_TIMEOUT)\n`;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, timeoutS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const c = code ?? (signal ? 128 : 1);
      resolve({ file, code: c, ms: Date.now() - t0, out, ...countOf(c, out) });
    });
  });
}

/** Lines a passing file printed on purpose (a test's NOTE), shown even when quiet. */
const notes = (out: string) =>
  stripAnsi(out)
    .split('\n')
    .filter((l) => /^\s*(NOTE|WARNING)\b/.test(l));

export function describe(r: FileResult, verbose: boolean): string {
  const ok = r.code === 0 && r.failed === 0;
  const counts = `${r.passed} passed${r.failed ? `, ${r.failed} failed` : ''}${r.skipped ? `, ${r.skipped} skipped` : ''}`;
  const head = `  ${ok ? 'ok  ' : 'FAIL'}  ${`${r.file.tier}/${r.file.rel}`.padEnd(44)} ${counts.padEnd(28)} ${(r.ms / 1000).toFixed(1).padStart(6)} s\n`;
  if (!ok || verbose) return head + r.out.replace(/^/gm, '      | ') + '\n';
  return head + notes(r.out).map((l) => `      ${l.trim()}\n`).join('');
}

/**
 * Runs FILES with at most JOBS at once, longest (largest) first; reports each
 * as it ends. `widen`: once `when` settles (the VM run alongside has ended and
 * freed its cores), up to `widen.jobs` run at once.
 */
export function runPool(
  files: TestFile[],
  jobs: number,
  env: NodeJS.ProcessEnv,
  onDone: (r: FileResult) => void,
  widen?: { when: Promise<unknown>; jobs: number },
): Promise<FileResult[]> {
  const timeoutS = Number(process.env.DVM_TEST_FILE_TIMEOUT ?? 1500);
  const queue = [...files];
  const results: FileResult[] = [];
  let allowed = Math.max(1, jobs);
  let running = 0;
  return new Promise((resolve) => {
    const fill = () => {
      while (running < allowed && queue.length > 0) {
        const f = queue.shift()!;
        running++;
        void runFile(f, env, timeoutS).then((r) => {
          results.push(r);
          onDone(r);
          running--;
          fill();
        });
      }
      if (running === 0 && queue.length === 0) resolve(results);
    };
    const more = () => {
      allowed = Math.max(allowed, widen!.jobs);
      if (queue.length > 0) fill();
    };
    if (widen) void widen.when.then(more, more);
    fill();
  });
}
