// Benchmark: one lv-create on a VG holding 10,000 LVs (and 1,400 holes between
// them), as the pure function and end to end through bin/lv-create.js (node
// start, read, schema check, allocate, canonical write). Prints medians in ms.
//   node dist/bench/mutators.js [runs]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { canonicalJson } from '../src/lib/canonical-json.js';
import { validate } from '../src/lib/schema.js';
import { lvCreate } from '../src/metadata-manip/lv-create.js';
import type { Lv, Vg } from '../src/metadata-manip/model.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function bigVg(lvCount = 10_000, pvCount = 8): Vg {
  const pvs = Array.from({ length: pvCount }, (_, i) => ({ id: `benchpv${i}aaaaaaaaaaa`, size: 2 ** 40, pe_start: 2048, pe_count: 200_000, flags: ['allocatable' as const] }));
  const lvs: Lv[] = [];
  let slot = 0;
  for (let i = 0; lvs.length < lvCount; i++, slot++) {
    const pv = pvs[slot % pvCount];
    const pe = Math.floor(slot / pvCount) * 10;
    if (i % 7 === 3) continue; // a hole, so that the allocator has runs to choose between
    lvs.push({ id: `benchlv${String(lvs.length).padStart(8, '0')}aaaa`, name: `lv${lvs.length}`, flags: [], segments: [{ start_extent: 0, extent_count: 10 - (i % 3), type: 'linear', areas: [{ pv: pv.id, pe }] }] });
  }
  return { format: 'dvm.vg/1', name: 'bench', id: 'benchvgaaaaaaaaaaaaaaaaaaaaaaaaa', seqno: 1, extent_size: 8192, pvs, lvs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export function benchMutators(runs = 7): { pureMs: number; cliMs: number; startMs: number; lvs: number; bytes: number } {
  const vg = bigVg();
  validate('dvm.vg/1', vg);
  const input = canonicalJson(vg);
  const pure: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    lvCreate(vg, { name: 'new', size: '25e' });
    pure.push(performance.now() - t);
  }
  const cli: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    execFileSync(process.execPath, [path.join(root, 'bin/lv-create.js'), 'new', '100M'], { input, maxBuffer: 1 << 28 });
    cli.push(performance.now() - t);
  }
  // What the process costs before it reads anything (node, yargs, module loading).
  const start: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    execFileSync(process.execPath, [path.join(root, 'bin/lv-create.js'), '--help']);
    start.push(performance.now() - t);
  }
  return { pureMs: median(pure), cliMs: median(cli), startMs: median(start), lvs: vg.lvs.length, bytes: input.length };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const r = benchMutators(Number(process.argv[2] ?? 7));
  console.log(`lv-create on ${r.lvs} LVs (${(r.bytes / 1e6).toFixed(1)} MB of dvm.vg/1): pure ${r.pureMs.toFixed(1)} ms, CLI end to end ${r.cliMs.toFixed(1)} ms (of which process start ${r.startMs.toFixed(1)} ms, from --help) (medians)`);
}
