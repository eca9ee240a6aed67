// The test command: runs the test tiers (docs/testing.md) and ends with one
// line per tier and the closing `N passed, N failed` line CI reads.
//
//   node dist/test/run.js [TIER...] [--verbose] [--serial]   (no TIER: all of them)
//   node dist/test/run.js --one FILE                         (one file, where its tier runs)
//
// A tier that cannot run here (the root tier without root, the real-kernel
// tier with neither device-mapper nor the VM) says so loudly; under CI=true,
// or when that tier was asked for by name, the run then fails. Nothing is
// skipped quietly.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { findFile, ROOT, tierFiles, type TestFile } from './runner/files.js';
import { describe, runPool, stripAnsi, type Count } from './runner/pool.js';

const TIERS = ['unit', 'cli', 'root', 'integration', 'services'] as const;
type Tier = (typeof TIERS)[number];
const FOLDER_NOTE: Record<Tier, string> = {
  unit: 'pure: no root, no child processes',
  cli: 'the tools as processes',
  root: 'root: loop devices, mounts, LVM2 comparisons, stress',
  integration: 'real kernel device-mapper',
  services: 'real services started by the tests',
};

interface Outcome extends Count {
  tier: Tier;
  where: string;
  files: number;
  ms: number;
  /** why the tier did not run at all */
  notRun?: string;
  ok: boolean;
}

const argv = process.argv.slice(2);
const flag = (f: string) => argv.includes(f);
const verbose = flag('--verbose') || process.env.DVM_TEST_VERBOSE === '1';
const inVm = flag('--in-vm');
const ci = process.env.CI === 'true' || process.env.CI === '1';
const serial = flag('--serial') || process.env.DVM_TEST_SERIAL === '1';
const oneArg = argv.includes('--one') ? argv[argv.indexOf('--one') + 1] : undefined;
const legacy: Record<string, Tier> = { '--unit': 'unit', '--integration': 'integration' };
const named = argv.flatMap((a) => (TIERS.includes(a as Tier) ? [a as Tier] : legacy[a] ? [legacy[a]] : []));
const unknown = argv.filter((a, i) => !a.startsWith('--') && !TIERS.includes(a as Tier) && argv[i - 1] !== '--one');
const badFlag = argv.filter((a) => a.startsWith('--') && !['--verbose', '--in-vm', '--serial', '--one', ...Object.keys(legacy)].includes(a));
if (unknown.length || badFlag.length || (argv.includes('--one') && !oneArg)) {
  console.error(`test: usage: run.js [${TIERS.join('|')}]... [--verbose] [--serial] | run.js --one FILE (got: ${[...unknown, ...badFlag].join(' ') || '--one without FILE'})`);
  process.exit(2);
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

type Where = { kind: 'here'; label: string } | { kind: 'vm' } | { kind: 'cannot'; why: string };

function whereTier(tier: Tier): Where {
  const here = { kind: 'here' as const, label: inVm ? 'in the VM' : 'on this host' };
  switch (tier) {
    case 'root':
      return process.getuid?.() === 0 ? here : { kind: 'cannot', why: 'needs root (loop devices, mounts, LVM2); run it as root' };
    case 'integration':
      if (dmUsable()) return here;
      if (inVm) return { kind: 'cannot', why: 'device-mapper is not usable even inside the VM' };
      return { kind: 'vm' };
    default:
      return here;
  }
}

/**
 * Host tiers share 2 cores with each other and, when it runs alongside, the
 * VM. The root and services tiers run one file at a time on their own, but
 * take the second core when it is one the VM run has given back (`afterVm`):
 * the suite then ends sooner than the host tiers would one by one.
 */
function jobsFor(tier: Tier, vmAlongside: boolean, afterVm = false): number {
  if (process.env.DVM_TEST_JOBS) return Math.max(1, Number(process.env.DVM_TEST_JOBS));
  if (tier === 'integration') return Number(process.env.DVM_TEST_SHARDS ?? 2);
  if (vmAlongside) return 1;
  return tier === 'unit' || tier === 'cli' || afterVm ? 2 : 1;
}

const loud = (msg: string) => {
  const bar = '!'.repeat(Math.min(100, msg.length + 8));
  console.log(`\n${bar}\n!!! ${msg} !!!\n${bar}\n`);
};
const secs = (ms: number) => (ms >= 120_000 ? `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);

async function runHere(tier: Tier, files: TestFile[], label: string, vmRun: Promise<unknown> | undefined): Promise<Outcome> {
  const t0 = Date.now();
  const jobs = Math.min(files.length, jobsFor(tier, !!vmRun));
  // Once the VM run alongside ends its cores are free: the rest of the tier takes them.
  const after = vmRun ? Math.min(files.length, jobsFor(tier, false, true)) : jobs;
  const widen = vmRun && after > jobs ? { when: vmRun, jobs: after } : undefined;
  console.log(`== ${tier} (${FOLDER_NOTE[tier]}): ${files.length} file${files.length === 1 ? '' : 's'} ${label}, ${jobs} at a time${widen ? `, ${after} once the VM run ends` : ''} ==`);
  const env: NodeJS.ProcessEnv = tier === 'integration' ? { DVM_INTEGRATION: '1' } : {};
  const results = await runPool(files, jobs, env, (r) => process.stdout.write(describe(r, verbose)), widen);
  const o: Outcome = { tier, where: label, files: files.length, ms: Date.now() - t0, passed: 0, failed: 0, skipped: 0, ok: true };
  for (const r of results) {
    o.passed += r.passed;
    o.failed += r.failed;
    o.skipped += r.skipped;
    o.ok &&= r.code === 0 && r.failed === 0;
  }
  return o;
}

/**
 * The real-kernel tier in a throwaway VM (test/vm/vm.sh): the run inside is
 * this same runner with --in-vm, and its tier line is read back. When host
 * tiers run meanwhile its output is held and printed once it ends.
 */
async function runInVm(files: TestFile[], one: TestFile | undefined, hold: boolean): Promise<{ outcome: Outcome; out: string }> {
  const t0 = Date.now();
  const inner = [process.execPath, 'dist/test/run.js', '--in-vm', ...(verbose ? ['--verbose'] : []), ...(one ? ['--one', `test/${one.tier}/${one.rel}`] : ['integration'])];
  // TCG is slow and the machine may be busy: a generous guard, inside CI's limit.
  const vmArgs = ['test/vm/vm.sh', '--timeout', process.env.DVM_TEST_VM_TIMEOUT ?? '2700', '--', ...inner];
  const r = await new Promise<{ code: number; out: string }>((resolve) => {
    const child = spawn('bash', vmArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const take = (d: Buffer) => {
      out += d.toString();
      if (!hold) process.stdout.write(d);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), out }));
  });
  const m = [...stripAnsi(r.out).matchAll(/^integration: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?/gm)].pop();
  const o: Outcome = { tier: 'integration', where: 'in the VM', files: files.length, ms: Date.now() - t0, passed: 0, failed: 1, skipped: 0, ok: false };
  if (m) Object.assign(o, { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3] ?? 0) });
  else r.out += `\ntest runner: the VM run ended (vm.sh status ${r.code}${r.code === 124 ? ': timed out' : r.code === 125 ? ': the VM failed' : ''}) without its integration line\n`;
  o.ok = r.code === 0 && !!m && o.failed === 0;
  return { outcome: o, out: r.out };
}

/**
 * On a fresh machine every package the root and services tiers need is
 * installed in the background (test/runner/prefetch.ts) while the first tiers
 * run; the VM's own packages first, since the VM run is the longest. Resolves
 * to the line it ended with. Not for one file, not in the VM, not without root.
 */
function startPrefetch(tiers: Tier[], vm: boolean): Promise<string> | undefined {
  if (oneArg || inVm || process.getuid?.() !== 0 || !tiers.some((t) => t === 'root' || t === 'services')) return undefined;
  if (vm) spawnSync('bash', ['test/vm/prereqs.sh'], { cwd: ROOT, stdio: 'inherit' });
  const log = `/tmp/dvm-prefetch-${process.pid}.log`;
  const fd = openSync(log, 'w');
  const child = spawn(process.execPath, ['dist/test/runner/prefetch.js'], { cwd: ROOT, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      const last = readFileSync(log, 'utf8').trim().split('\n').pop() ?? '';
      resolve(`${last || 'prefetch: no output'}${code ? ` (exit ${code}, log ${log})` : ''}`);
    }),
  );
}

async function main(): Promise<number> {
  const t0 = Date.now();
  let plan: { tier: Tier; files: TestFile[]; one?: TestFile }[];
  if (oneArg) {
    const f = findFile(oneArg, TIERS);
    if (typeof f === 'string') {
      console.error(`test: ${f}`);
      return 2;
    }
    plan = [{ tier: f.tier as Tier, files: [f], one: f }];
  } else {
    const chosen = named.length ? TIERS.filter((t) => named.includes(t)) : inVm ? (['integration'] as Tier[]) : [...TIERS];
    plan = chosen.map((tier) => ({ tier, files: tierFiles(tier) }));
    const left = TIERS.filter((t) => !chosen.includes(t));
    if (left.length && !inVm) console.log(`NOTE: tiers not asked for, NOT run: ${left.join(', ')} (\`npm test\` runs them all)`);
  }
  for (const { files } of plan) {
    const missing = files.filter((f) => !existsSync(f.built));
    if (missing.length) {
      console.error(`test: not built: ${missing.map((f) => path.relative(ROOT, f.built)).join(', ')}: run \`npm run build\``);
      return 4;
    }
  }

  const outcomes: Outcome[] = [];
  const vmPart = plan.find((p) => p.files.length && whereTier(p.tier).kind === 'vm');
  const prefetch = startPrefetch(plan.map((p) => p.tier), !!vmPart);
  const alongside = !!vmPart && !serial && plan.some((p) => p !== vmPart && p.files.length && whereTier(p.tier).kind === 'here');
  let vmRun: Promise<{ outcome: Outcome; out: string }> | undefined;
  if (vmPart && alongside) {
    console.log(`== integration (${FOLDER_NOTE.integration}): no usable /dev/mapper/control here: ${vmPart.files.length} files in a throwaway VM (test/vm/vm.sh), alongside the host tiers; its output follows when it ends ==`);
    vmRun = runInVm(vmPart.files, vmPart.one, true);
  }
  for (const p of plan) {
    const where = whereTier(p.tier);
    if (!p.files.length) {
      console.log(`== ${p.tier}: no test files in test/${p.tier}/ ==`);
      outcomes.push({ tier: p.tier, where: '', files: 0, ms: 0, passed: 0, failed: 0, skipped: 0, ok: true });
    } else if (where.kind === 'cannot') {
      loud(`${p.tier} tier NOT RUN: ${where.why}${ci ? ' (CI: this fails the run)' : ''}`);
      outcomes.push({ tier: p.tier, where: '', files: p.files.length, ms: 0, passed: 0, failed: 0, skipped: 0, notRun: where.why, ok: false });
    } else if (where.kind === 'here') {
      outcomes.push(await runHere(p.tier, p.files, where.label, vmRun));
    } else if (!vmRun) {
      console.log(`== integration (${FOLDER_NOTE.integration}): no usable /dev/mapper/control here: ${p.files.length} file${p.files.length === 1 ? '' : 's'} in a throwaway VM (test/vm/vm.sh) ==`);
      outcomes.push((await runInVm(p.files, p.one, false)).outcome);
    } else {
      outcomes.push({ tier: p.tier, where: 'in the VM', files: p.files.length, ms: 0, passed: 0, failed: 0, skipped: 0, ok: false }); // filled below
    }
  }
  if (vmRun) {
    const { outcome, out } = await vmRun;
    console.log(`== integration, in the VM (ran alongside the host tiers) ==`);
    process.stdout.write(out);
    outcomes[outcomes.findIndex((o) => o.tier === 'integration')] = outcome;
  }

  console.log('');
  if (prefetch) console.log(await prefetch);
  if (!inVm) console.log(`time: ${secs(Date.now() - t0)}`);
  for (const o of outcomes) {
    if (o.notRun) console.log(`${o.tier}: NOT RUN: ${o.notRun}`);
    else if (!o.files) console.log(`${o.tier}: no test files`);
    else console.log(`${o.tier}: ${o.passed} passed, ${o.failed} failed${o.skipped ? `, ${o.skipped} skipped` : ''} (${o.files} file${o.files === 1 ? '' : 's'}, ${secs(o.ms)}, ${o.where})`);
  }
  const passed = outcomes.reduce((a, o) => a + o.passed, 0);
  const failed = outcomes.reduce((a, o) => a + o.failed, 0);
  console.log(`${passed} passed, ${failed} failed`);
  const notRunFails = outcomes.some((o) => o.notRun && (ci || named.includes(o.tier) || !!oneArg));
  return outcomes.every((o) => o.ok || o.notRun) && !notRunFails ? 0 : 1;
}

process.exitCode = await main();
