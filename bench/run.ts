// npm run bench: dvm and LVM2 side by side on the same devices in one run.
// Prints medians, dvm/LVM2 ratios and peak memory; writes bench/results/*.json.
// Metadata-only cases run on the host; activation cases in the VM (or here,
// where device-mapper works). See bench/README.md for the cases and targets.
import { mkdirSync, writeFileSync, existsSync, openSync, closeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { measure, type Sample } from './measure.js';
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

const fmt = (s: Sample | null) => (s ? s.ms.toFixed(0).padStart(8) : '       -');
const mem = (s: Sample | null) => (s ? (s.maxRssKiB / 1024).toFixed(0).padStart(6) : '     -');

function print(rows: Row[], floor: Sample): void {
  console.log(`\nnode floor (node -e 0): ${floor.ms.toFixed(0)} ms, ${(floor.maxRssKiB / 1024).toFixed(0)} MiB; medians of ${runs} runs\n`);
  console.log(`${'case'.padEnd(52)} ${'dvm ms'.padStart(8)} ${'lvm2 ms'.padStart(8)} ${'ratio'.padStart(6)} ${'dvm-floor'.padStart(9)} ${'dvmMiB'.padStart(6)} ${'lvmMiB'.padStart(6)}`);
  for (const r of rows) {
    const ratio = r.dvm && r.lvm2 ? (r.dvm.ms / r.lvm2.ms).toFixed(2) : '-';
    const above = r.dvm ? (r.dvm.ms - floor.ms).toFixed(0) : '-';
    console.log(`${r.case.padEnd(52)} ${fmt(r.dvm)} ${fmt(r.lvm2)} ${ratio.padStart(6)} ${above.padStart(9)} ${mem(r.dvm)} ${mem(r.lvm2)}${r.note ? `  ${r.note}` : ''}`);
  }
}

const floor = measure(runs, () => `${process.execPath} -e 0`);
const rows: Row[] = [];
if (only !== 'vm') rows.push(...hostCases(root, runs));
if (only !== 'host') {
  if (dmUsable()) {
    const { vmCases } = await import('./vm-cases.js');
    rows.push(...vmCases(root, runs));
  } else if (existsSync(path.join(root, 'test/vm/vm.sh'))) {
    console.log('activation cases: no device-mapper here, running them in the VM (test/vm/vm.sh)');
    const out = execFileSync('bash', ['test/vm/vm.sh', '--', process.execPath, 'dist/bench/run.js', 'vm'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, DVM_BENCH_JSON: '1' } });
    const line = out.split('\n').find((l) => l.startsWith('DVM_BENCH_ROWS='));
    if (line) rows.push(...(JSON.parse(line.slice('DVM_BENCH_ROWS='.length)) as Row[]).map((r) => ({ ...r, note: `${r.note ? r.note + '; ' : ''}in the VM (TCG)` })));
  }
}
if (process.env.DVM_BENCH_JSON) console.log(`DVM_BENCH_ROWS=${JSON.stringify(rows)}`);
else {
  print(rows, floor);
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  const file = path.join(root, 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), runs, floor, rows }, null, 2) + '\n');
  console.log(`\nwritten ${path.relative(root, file)}`);
}
