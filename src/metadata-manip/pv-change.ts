import { failed } from '../lib/errors.js';
import type { MutatorResult } from './common.js';
import { shallowCopy, type Vg } from './model.js';

/** pv-change --allocatable y|n: whether new extents may come from this PV (existing ones stay). */
export function pvChange(input: Vg, o: { pv: string; allocatable: boolean }): MutatorResult {
  const vg = shallowCopy(input);
  const pv = vg.pvs.find((p) => p.id === o.pv);
  if (!pv) throw failed('cannot change physical volume', o.pv, `no such physical volume in volume group '${vg.name}'`);
  const has = pv.flags.includes('allocatable');
  const notes: string[] = [];
  if (has === o.allocatable) notes.push(`Physical volume ${o.pv} is already ${o.allocatable ? '' : 'un'}allocatable`);
  const others = pv.flags.filter((f) => f !== 'allocatable');
  // Keep the flags in schema order so that equal states are equal bytes.
  pv.flags = o.allocatable ? ['allocatable', ...others] : others;
  return { vg, notes };
}
