// Running tools as a user would: through bin/, with stdin, exit code and
// both streams captured. Shared by every tool's CLI battery.
import { execa } from 'execa';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const binPath = (tool: string) => path.join(ROOT, 'bin', `${tool}.js`);

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function runBin(tool: string, args: string[] = [], opts: { input?: string; env?: Record<string, string>; cwd?: string } = {}): Promise<RunResult> {
  const r = await execa(process.execPath, [binPath(tool), ...args], {
    input: opts.input ?? '',
    env: opts.env,
    cwd: opts.cwd,
    reject: false,
    stripFinalNewline: false,
  });
  return { exitCode: r.exitCode ?? 70, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** A diagnostic is exactly one line `<tool>: ...` on stderr, and stdout is empty. */
export function assertOneLineError(r: RunResult, tool: string, code: number, contains?: string | RegExp): void {
  assert.is(r.exitCode, code, `exit code (stderr: ${r.stderr.trim()})`);
  assert.is(r.stdout, '', 'stdout must be empty on failure');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.is(lines.length, 1, `one line on stderr, got: ${JSON.stringify(r.stderr)}`);
  assert.ok(lines[0].startsWith(`${tool}: `), `stderr starts with '${tool}: ': ${lines[0]}`);
  if (contains instanceof RegExp) assert.match(lines[0], contains);
  else if (contains) assert.ok(lines[0].includes(contains), `stderr mentions ${contains}: ${lines[0]}`);
}

/**
 * The battery every tool gets: --help and --version exit 0 on stdout, a bad
 * option exits 2, garbage on stdin exits 3 (for tools that read stdin).
 * `args` are the arguments a tool needs before it reads stdin.
 */
export interface FailingRun {
  args: string[];
  input?: string;
  /** files or devices the tool could write; their bytes must not change */
  files: string[];
  code: number;
}

export function cliBattery(
  test: (name: string, fn: () => Promise<void>) => void,
  tool: string,
  opts: { args?: string[]; readsStdin?: boolean; failing?: () => Promise<FailingRun> } = {},
): void {
  const args = opts.args ?? [];
  test(`${tool}: --help prints usage with an example and exits 0`, async () => {
    const r = await runBin(tool, ['--help']);
    assert.is(r.exitCode, 0, r.stderr);
    assert.ok(r.stdout.includes(tool), 'usage names the tool');
    assert.match(r.stdout, /Example|example/, 'usage shows an example');
    assert.is(r.stderr, '');
  });
  test(`${tool}: --version prints the version and exits 0`, async () => {
    const r = await runBin(tool, ['--version']);
    assert.is(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
  });
  test(`${tool}: an unknown option exits 2 with one line`, async () => {
    const r = await runBin(tool, [...args, '--no-such-option']);
    assertOneLineError(r, tool, 2);
  });
  test(`${tool}: a failure leaves its outputs untouched`, async () => {
    if (opts.failing) {
      const f = await opts.failing();
      const before = f.files.map((p) => createHash('sha256').update(readFileSync(p)).digest('hex'));
      const r = await runBin(tool, f.args, { input: f.input });
      assertOneLineError(r, tool, f.code);
      assert.equal(f.files.map((p) => createHash('sha256').update(readFileSync(p)).digest('hex')), before, 'outputs byte-identical after the failure');
    } else {
      // a pure tool's only output is stdout: nothing on it when it fails
      const r = await runBin(tool, [...args, '--no-such-option'], { input: '{}' });
      assert.is(r.stdout, '');
    }
  });
  if (opts.readsStdin ?? true) {
    test(`${tool}: garbage on stdin exits 3 with one line`, async () => {
      const r = await runBin(tool, args, { input: '{not json' });
      assertOneLineError(r, tool, 3);
    });
    test(`${tool}: a document of the wrong format exits 3`, async () => {
      const r = await runBin(tool, args, { input: '{"format":"dvm.nonsense/9"}\n' });
      assertOneLineError(r, tool, 3);
    });
  }
}
