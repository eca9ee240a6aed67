// Seeded random VGs and request sequences, shared by the property tests and the LVM2 comparison.
import type { Op } from './lvm2.js';
import { mulberry32 } from '../../src/lib/prng.js';

/** mulberry32: small, fast, and the same sequence everywhere for a seed. */
export function rng(seed: number): () => number {
  return mulberry32(seed);
}

export const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
export const int = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

export interface OpMix {
  pvCount: number;
  maxExtents: number;
  stripes?: boolean;
  mirrors?: boolean;
  pvArgs?: boolean;
}

/** A plausible next request given the LV names that exist (it may still be infeasible). */
export function randomOp(r: () => number, live: string[], mix: OpMix, counter: number): Op {
  const roll = r();
  const pvs = () => {
    if (!mix.pvArgs || r() < 0.7) return undefined;
    const n = int(r, 1, mix.pvCount);
    const all = Array.from({ length: mix.pvCount }, (_, i) => i).sort(() => r() - 0.5);
    return all.slice(0, n).sort((a, b) => a - b);
  };
  if (live.length === 0 || roll < 0.35) {
    const kind = r();
    const name = `lv${counter}`;
    if (mix.stripes && kind < 0.25) {
      const stripes = int(r, 2, Math.max(2, mix.pvCount));
      return { op: 'create', name, extents: stripes * int(r, 1, Math.max(1, Math.floor(mix.maxExtents / stripes))), stripes, pvs: pvs() };
    }
    if (mix.mirrors && kind > 0.85) return { op: 'create', name, extents: int(r, 1, Math.max(1, mix.maxExtents >> 1)), mirrors: 1, pvs: pvs() };
    return { op: 'create', name, extents: int(r, 1, mix.maxExtents), pvs: pvs() };
  }
  const name = pick(r, live);
  if (roll < 0.6) return { op: 'extend', name, extents: int(r, 1, mix.maxExtents), pvs: pvs() };
  if (roll < 0.8) return { op: 'reduce', name, extents: int(r, 1, 4) };
  return { op: 'remove', name };
}
