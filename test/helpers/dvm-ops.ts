// Run an Op (see lvm2.ts) through the pure mutators.
import { lvCreate } from '../../src/metadata-manip/lv-create.js';
import { lvExtend, lvReduce } from '../../src/metadata-manip/lv-resize.js';
import { lvRemove, lvRename } from '../../src/metadata-manip/lv-admin.js';
import type { Vg } from '../../src/metadata-manip/model.js';
import type { Op } from './lvm2.js';

export function applyDvm(vg: Vg, o: Op | { op: 'rename'; name: string; to: string }, pvIds: string[]): Vg {
  const pvs = 'pvs' in o && o.pvs ? o.pvs.map((i) => pvIds[i]) : undefined;
  switch (o.op) {
    case 'create':
      return lvCreate(vg, { name: o.name, size: typeof o.extents === 'string' ? o.extents : `${o.extents}e`, stripes: o.stripes, mirrors: o.mirrors, pvs }).vg;
    case 'extend':
      return lvExtend(vg, { name: o.name, size: typeof o.extents === 'string' ? `+${o.extents}` : `+${o.extents}e`, pvs }).vg;
    case 'reduce':
      return lvReduce(vg, { name: o.name, size: `-${o.extents}e` }).vg;
    case 'remove':
      return lvRemove(vg, { name: o.name }).vg;
    case 'rename':
      return lvRename(vg, { name: o.name, newName: o.to }).vg;
  }
}
