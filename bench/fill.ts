// Bench-only mutator: add N linear one-extent LVs (fill-<i>) on the first free
// extents, in one generation. Used to build big VGs quickly for benchmarks.
//   node dist/bench/fill.js N < vg.json > vg.json
import { text } from 'node:stream/consumers';
import { canonicalJson } from '../src/lib/canonical-json.js';
import type { Vg } from '../src/lib/vg-types.js';

const n = Number(process.argv[2]);
const vg = JSON.parse(await text(process.stdin)) as Vg;
const used = new Map<string, Uint8Array>(vg.pvs.map((p) => [p.id, new Uint8Array(p.pe_count)]));
for (const lv of vg.lvs) for (const s of lv.segments) for (const a of s.areas) if ('pv' in a) used.get(a.pv)!.fill(1, a.pe, a.pe + s.extent_count);
let made = 0;
for (const pv of vg.pvs) {
  const u = used.get(pv.id)!;
  for (let pe = 0; pe < pv.pe_count && made < n; pe++) {
    if (u[pe]) continue;
    const id = `fill${String(vg.lvs.length).padStart(8, '0')}${'x'.repeat(20)}`;
    vg.lvs.push({ id, name: `fill-${vg.lvs.length}`, flags: [], segments: [{ start_extent: 0, extent_count: 1, type: 'linear', areas: [{ pv: pv.id, pe }] }] });
    made++;
  }
}
if (made < n) {
  process.stderr.write(`fill: only ${made} free extents for ${n} LVs\n`);
  process.exitCode = 1;
} else {
  vg.description = `bench fill ${n}`;
  process.stdout.write(canonicalJson(vg));
}
