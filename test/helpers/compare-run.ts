// Run one op sequence through LVM2 and dvm and report the first divergence.
import { Lvm2Sandbox, dvmLayout, lvmArgs, type Op } from './lvm2.js';
import { applyDvm } from './dvm-ops.js';

export interface CompareResult {
  ok: boolean;
  step?: number;
  op?: Op;
  lvm?: string[];
  dvm?: string[];
  error?: string;
}

/** Both must succeed or both fail at each step, with equal layouts after it. */
export function compareSequence(sizesMiB: number[], ops: Op[], extentMiB = 1, driverLoaded = false): CompareResult {
  const sb = Lvm2Sandbox.create(sizesMiB, extentMiB, driverLoaded);
  try {
    let vg = sb.emptyVgDoc();
    const ids = sizesMiB.map((_, i) => sb.pvId(i));
    for (let i = 0; i < ops.length; i++) {
      let lvmErr: string | undefined;
      let dvmErr: string | undefined;
      try {
        sb.lvm(lvmArgs(sb, ops[i]));
        if (ops[i].op === 'extend' && sb.mirrored.has(ops[i].name)) sb.lvm(['lvchange', '-q', '-an', `${sb.vg}/${ops[i].name}`]);
      } catch (e) {
        lvmErr = (e as Error).message;
      }
      try {
        vg = applyDvm(vg, ops[i], ids);
      } catch (e) {
        dvmErr = (e as Error).message;
      }
      if (!!lvmErr !== !!dvmErr) return { ok: false, step: i, op: ops[i], error: `lvm: ${lvmErr ?? 'ok'}; dvm: ${dvmErr ?? 'ok'}` };
      const a = sb.layout();
      const b = dvmLayout(vg);
      if (JSON.stringify(a) !== JSON.stringify(b)) return { ok: false, step: i, op: ops[i], lvm: a, dvm: b };
    }
    return { ok: true };
  } finally {
    sb.destroy();
  }
}
