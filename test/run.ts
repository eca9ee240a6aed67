// The test command. Unit tests run here; the integration suite runs against
// the real kernel device-mapper: directly when we are root and
// /dev/mapper/control answers, otherwise inside a throwaway VM (test/vm/vm.sh).
// It never skips the integration suite silently: `--unit` is the only way to
// leave it out, and that says so.
import { spawn } from 'node:child_process';
import { openSync, closeSync, existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const uvu = path.join(root, 'node_modules/uvu/bin.js');
const args = new Set(process.argv.slice(2));

interface Tally {
  suite: string;
  passed: number;
  failed: number;
  skipped: number;
  ok: boolean;
}

function run(cmd: string, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      process.stdout.write(d);
      out += d.toString();
    });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), out }));
  });
}

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

/** uvu ends with Total/Passed/Skipped lines; sum them (one block per process). */
function tally(suite: string, code: number, out: string): Tally {
  const text = stripAnsi(out);
  const sum = (label: string) => [...text.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
  const total = sum('Total');
  const passed = sum('Passed');
  const skipped = sum('Skipped');
  const failed = Math.max(total - passed - skipped, code === 0 ? 0 : 1);
  return { suite, passed, failed, skipped, ok: code === 0 && failed === 0 && total > 0 };
}

function dmUsable(): boolean {
  if (process.getuid?.() !== 0 || !existsSync('/dev/mapper/control')) return false;
  try {
    closeSync(openSync('/dev/mapper/control', 'r+'));
    return true;
  } catch {
    return false;
  }
}

async function unitSuite(): Promise<Tally> {
  console.log('== unit tests (no root, no device-mapper) ==');
  const r = await run(process.execPath, [uvu, 'dist/test/unit', '\\.test\\.js$']);
  return tally('unit', r.code, r.out);
}

/**
 * Integration files in two shards run side by side (2 vCPUs; node start-up
 * dominates under TCG). Tests are independent by construction: every dm
 * device, VG and loop device carries the test process's own prefix.
 */
function shards(n: number): string[][] {
  const dir = path.join(root, 'dist/test/integration');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => ({ f, w: statSync(path.join(dir, f)).size }))
    .sort((a, b) => b.w - a.w || a.f.localeCompare(b.f));
  const out: { files: string[]; w: number }[] = Array.from({ length: n }, () => ({ files: [], w: 0 }));
  for (const { f, w } of files) {
    const lightest = out.reduce((a, b) => (b.w < a.w ? b : a));
    lightest.files.push(f);
    lightest.w += w;
  }
  return out.map((s) => s.files).filter((s) => s.length);
}

function runQuiet(cmd: string, argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), out }));
  });
}

async function integrationSuite(): Promise<Tally> {
  if (dmUsable()) {
    const where = process.env.DVM_IN_VM ? 'in the VM' : 'on this host';
    const parts = shards(Number(process.env.DVM_TEST_SHARDS ?? 2));
    console.log(`== integration tests: real kernel device-mapper, ${where}, ${parts.length} shards side by side ==`);
    const results = await Promise.all(
      parts.map((files) => runQuiet(process.execPath, [uvu, 'dist/test/integration', `^(${files.map((f) => f.replace(/\./g, '\\.')).join('|')})$`], { DVM_INTEGRATION: '1' })),
    );
    const tallies = results.map((r, i) => {
      console.log(`-- shard ${i + 1}: ${parts[i].join(', ')}`);
      process.stdout.write(r.out);
      return tally('shard', r.code, r.out);
    });
    const t: Tally = { suite: `integration (${process.env.DVM_IN_VM ? 'vm' : 'host'})`, passed: 0, failed: 0, skipped: 0, ok: true };
    for (const x of tallies) {
      t.passed += x.passed;
      t.failed += x.failed;
      t.skipped += x.skipped;
      t.ok &&= x.ok;
    }
    return t;
  }
  if (args.has('--in-vm')) {
    console.log('integration: device-mapper is not usable even inside the VM');
    return { suite: 'integration (vm)', passed: 0, failed: 1, skipped: 0, ok: false };
  }
  console.log('== integration tests: no usable /dev/mapper/control here, booting a throwaway VM ==');
  // TCG is slow and CI's machine may be busy: a generous guard, well inside CI's 90 minutes.
  const r = await run('bash', ['test/vm/vm.sh', '--timeout', '2700', '--', process.execPath, 'dist/test/run.js', '--integration', '--in-vm']);
  // The inner run prints its own closing lines; take the integration tally from them.
  const m = [...stripAnsi(r.out).matchAll(/^integration \(vm\): (\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/gm)].pop();
  if (!m) return { suite: 'integration (vm)', passed: 0, failed: 1, skipped: 0, ok: false };
  const t = { suite: 'integration (vm)', passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3] ?? 0), ok: false };
  t.ok = r.code === 0 && t.failed === 0 && t.passed > 0;
  return t;
}

const tallies: Tally[] = [];
const onlyUnit = args.has('--unit');
const onlyIntegration = args.has('--integration');
if (!onlyIntegration) tallies.push(await unitSuite());
if (!onlyUnit) tallies.push(await integrationSuite());
else console.log('NOTE: integration suite NOT run (--unit); `npm test` runs it.');

console.log('');
for (const t of tallies) console.log(`${t.suite}: ${t.passed} passed, ${t.failed} failed${t.skipped ? `, ${t.skipped} skipped` : ''}`);
const passed = tallies.reduce((a, t) => a + t.passed, 0);
const failed = tallies.reduce((a, t) => a + t.failed, 0);
const skipped = tallies.reduce((a, t) => a + t.skipped, 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = tallies.every((t) => t.ok) ? 0 : 1;
