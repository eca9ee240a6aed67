// Helpers for tm tests: in-memory PV images, an in-process test mutator,
// and replay of recorded writes (crash points).
import { randomBytes } from 'node:crypto';
import { canonicalJson } from '../../src/lib/canonical-json.js';
import type { Vg } from '../../src/lib/vg-types.js';
import { MemDev, type Dev, type WriteRecord } from '../../src/pv-format/device.js';

export const MiB = 1024 * 1024;

export function memDevs(n: number, size = 2 * MiB): MemDev[] {
  return Array.from({ length: n }, (_, i) => new MemDev(`/mem/pv${i}`, Buffer.alloc(size)));
}
export const cloneDevs = (devs: MemDev[]) => devs.map((d) => new MemDev(d.path, Buffer.from(d.image)));

const A = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const testId = () => [...randomBytes(32)].map((b) => A[b % 62]).join('');

/** Add a linear LV of `n` extents at the first free extents of any present PV. */
export function addLv(name: string, n = 1, pad = 0) {
  return async (vg: Vg): Promise<Vg> => {
    const used = new Map<string, Set<number>>();
    for (const lv of vg.lvs)
      for (const s of lv.segments)
        for (const a of s.areas)
          if ('pv' in a) for (let i = 0; i < s.extent_count; i++) (used.get(a.pv) ?? used.set(a.pv, new Set()).get(a.pv)!).add(a.pe + i);
    for (const pv of vg.pvs) {
      if (pv.flags.includes('missing')) continue;
      const u = used.get(pv.id) ?? new Set();
      for (let pe = 0; pe + n <= pv.pe_count; pe++) {
        if ([...Array(n).keys()].some((i) => u.has(pe + i))) continue;
        vg.lvs.push({ id: testId(), name, flags: [], segments: [{ start_extent: 0, extent_count: n, type: 'linear', areas: [{ pv: pv.id, pe }] }] });
        if (pad) vg.description = randomBytes(pad).toString('base64').slice(0, 4000);
        return vg;
      }
    }
    vg.lvs.push({ id: testId(), name, flags: [], segments: [{ start_extent: 0, extent_count: n, type: 'error', areas: [] }] });
    if (pad) vg.description = randomBytes(pad).toString('base64').slice(0, 4000);
    return vg;
  };
}

/** Canonical text of a VG without the fields tm owns, for exact comparison. */
export const vgText = (vg: Vg) => canonicalJson(vg);

/** Every crash point of a write log: each prefix, and each prefix whose last write is torn at a sector boundary. */
export function* crashPoints(log: WriteRecord[]): Generator<{ name: string; writes: WriteRecord[] }> {
  for (let k = 0; k <= log.length; k++) {
    yield { name: `after ${k} writes`, writes: log.slice(0, k) };
    if (k === log.length) break;
    const w = log[k];
    for (let s = 1; s < w.data.length / 512; s++) {
      yield { name: `after ${k} writes + ${s} sectors of write ${k + 1}`, writes: [...log.slice(0, k), { ...w, data: w.data.subarray(0, s * 512) }] };
    }
  }
}

export function replay(start: MemDev[], writes: WriteRecord[]): MemDev[] {
  const devs = cloneDevs(start);
  for (const w of writes) devs[w.dev].write(w.offset, w.data);
  return devs;
}

export const asDevs = (d: MemDev[]): Dev[] => d;
