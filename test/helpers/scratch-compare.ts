import { compareSequence } from './compare-run.js';
import type { Op } from './lvm2.js';
const scen: Record<string, [number[], Op[]]> = JSON.parse(process.argv[2]);
for (const [name, [sizes, ops]] of Object.entries(scen)) {
  const r = compareSequence(sizes, ops);
  console.log(name, r.ok ? 'OK' : JSON.stringify(r, null, 1));
}
