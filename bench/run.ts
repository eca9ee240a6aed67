// npm run bench: dvm and LVM2 side by side on the same devices in one run.
// Prints medians, dvm/LVM2 ratios and peak memory; writes bench/results/*.json.
// Metadata-only cases run on the host; activation cases in the VM (or here,
// where device-mapper works). See bench/README.md for the cases and targets.
import { mkdirSync, writeFileSync, existsSync, openSync, closeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { envs, measureBoth, type Sample } from './measure.js';
import { hostCases, type Row } from './host-cases.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const runs = Number(process.env.DVM_BENCH_RUNS ?? 5);
const only = process.argv[2]; // 'host' | 'vm' | undefined (both)

function dmUsable(): boolean {
  try {
    closeSync(openSync('/dev/mapper/control', 'r+'));
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

const fmt = (s: Sample | null | undefined) => (s ? s.ms.toFixed(0) : '-').padStart(7);
const mem = (s: Sample | null | undefined) => (s ? (s.maxRssKiB / 1024).toFixed(0) : '-').padStart(6);
const ratio = (a: Sample | null | undefined, b: Sample | null | undefined) => (a && b ? (a.ms / b.ms).toFixed(2) : '-').padStart(6);

function verdict(r: Row): string {
  const t = r.target;
  if (!t || !r.bare) return '';
  if (t.ms !== undefined) return `< ${t.ms} ms: ${r.bare.ms < t.ms ? 'met' : 'NOT met'}`;
  if (t.ratio !== undefined && r.lvm2) return `<= ${t.ratio.toFixed(1)}x: ${r.bare.ms / r.lvm2.ms <= t.ratio ? 'met' : 'NOT met'}`;
  return '';
}

function print(rows: Row[], floor: { machine: Sample; bare: Sample }): void {
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  console.log(`
machine = the environment as this machine has it${ca ? ` (NODE_EXTRA_CA_CERTS=${ca})` : ' (NODE_EXTRA_CA_CERTS is not set here: both columns measure the same)'}`);
  console.log('bare    = the same without NODE_EXTRA_CA_CERTS; the targets apply to it');
  console.log(`node -e 0: machine ${floor.machine.ms.toFixed(0)} ms, bare ${floor.bare.ms.toFixed(0)} ms; medians of ${runs} runs, the two interleaved; ratios are dvm / LVM2\n`);
  console.log(`${'case'.padEnd(52)} ${'lvm2'.padStart(7)} | ${'machine'.padStart(7)} ${'ratio'.padStart(6)} | ${'bare'.padStart(7)} ${'ratio'.padStart(6)} | ${'node'.padStart(7)} ${'ratio'.padStart(6)} | ${'dvmMiB'.padStart(6)} ${'lvmMiB'.padStart(6)}  target (bare)`);
  for (const r of rows) {
    const extra = [verdict(r), r.note].filter(Boolean).join('; ');
    console.log(`${r.case.padEnd(52)} ${fmt(r.lvm2)} | ${fmt(r.dvm)} ${ratio(r.dvm, r.lvm2)} | ${fmt(r.bare)} ${ratio(r.bare, r.lvm2)} | ${fmt(r.floor)} ${ratio(r.floor, r.lvm2)} | ${mem(r.dvm)} ${mem(r.lvm2)}  ${extra}`);
  }
  console.log('(times in ms; node = the same command shape with empty Node programs, bare: `node -e 0`, or three piped for a pipeline)');
}

const floor = measureBoth(runs, () => `${process.execPath} -e 0`, envs());
const rows: Row[] = [];
if (only !== 'vm') rows.push(...hostCases(root, runs));
if (only !== 'host') {
  if (dmUsable()) {
    const { vmCases } = await import('./vm-cases.js');
    rows.push(...vmCases(root, Number(process.env.DVM_BENCH_VM_RUNS ?? runs)));
  } else if (existsSync(path.join(root, 'test/vm/vm.sh'))) {
    console.log('activation cases: no device-mapper here, running them in the VM (test/vm/vm.sh)');
    const out = execFileSync('bash', ['test/vm/vm.sh', '--timeout', '3000', ...(process.env.NODE_EXTRA_CA_CERTS ? ['--env', 'NODE_EXTRA_CA_CERTS'] : []), '--', process.execPath, 'dist/bench/run.js', 'vm'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, DVM_BENCH_JSON: '1' } });
    const line = out.split('\n').find((l) => l.startsWith('DVM_BENCH_ROWS='));
    if (line) rows.push(...(JSON.parse(line.slice('DVM_BENCH_ROWS='.length)) as Row[]).map((r) => ({ ...r, note: `${r.note ? r.note + '; ' : ''}in the VM (TCG)` })));
  }
}
if (process.env.DVM_BENCH_JSON) console.log(`DVM_BENCH_ROWS=${JSON.stringify(rows)}`);
else {
  print(rows, floor);
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  const file = path.join(root, 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), runs, nodeExtraCaCerts: process.env.NODE_EXTRA_CA_CERTS ?? null, floor, rows }, null, 2) + '\n');
  console.log(`\nwritten ${path.relative(root, file)}`);
}
