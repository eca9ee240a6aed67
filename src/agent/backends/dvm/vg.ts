// One dvm VG as the backend drives it: the volume manager's own code used as
// a library (tm's read/update with its two-phase commit, the mutators'
// in-process runner, vol-activate's and dmactivate's pure cores), so a control
// call costs no Node start. The one thing forked is dmexec when a program
// suspends or resumes a device: that program then runs memory-locked in its
// own process, as the standard participant `vol-activate --active |
// dmactivate | dmexec` runs it; programs that suspend nothing run here.
import { statSync } from 'node:fs';
import { execa } from 'execa';
import { canonicalJson } from '../../../lib/canonical-json.js';
import { lvUuid, splitDev, vgScope, type DmDevice, type DmDoc } from '../../../lib/dm-doc.js';
import type { DmProgram } from '../../../lib/dm-program.js';
import { dmName } from '../../../lib/names.js';
import { toolShim } from '../../../lib/paths.js';
import type { Envelope, Lv, Vg } from '../../../lib/vg-types.js';
import { discover, systemBlockDevices } from '../../../discovery/scan.js';
import { closeAll, openLocked } from '../../../transaction-manager/lock.js';
import { read, update, type Participant } from '../../../transaction-manager/ops.js';
import { originNow } from '../../../transaction-manager/origin.js';
import { finishingMerges, mergedNow } from '../../../transaction-manager/merges.js';
import { dropFinishedMerges } from '../../../metadata-manip/lv-snapshot.js';
import { runInProcess } from '../../../metadata-manip/in-process.js';
import { desiredState } from '../../../vol-activate/activate.js';
import { planProgram } from '../../../dmactivate/program.js';
import { stageFromPhase } from '../../../dmactivate/phase.js';
import { queryKernel } from '../../../dmexec/client.js';
import { execute } from '../../../dmexec/execute.js';
import { DmControl } from '../../../dmexec/control.js';
import { loadNative } from '../../../dmexec/native.js';

/** Calls on one VG from this process run one at a time: flock is per open file, so two of ours would block each other. */
const queues = new Map<string, Promise<unknown>>();
function serial<T>(vg: string, fn: () => Promise<T>): Promise<T> {
  const prev = queues.get(vg) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  queues.set(vg, next.catch(() => undefined));
  return next;
}

/** The PVs of VG `name`: the given paths, or what discovery finds among the system's block devices. */
export function findPvs(name: string, given: string[] | null): string[] {
  if (given) return given;
  const d = discover(systemBlockDevices());
  const vg = d.vgs.find((v) => v.name === name);
  return vg ? vg.pvs.map((p) => p.path) : [];
}

const devOf = (p: string) => splitDev(statSync(p).rdev);
const suspends = (p: DmProgram) => p.steps.some((s) => s.op === 'suspend' || s.op === 'resume');

export class DvmVg {
  constructor(
    readonly name: string,
    private readonly pvs: () => string[],
    private readonly log: (line: string) => void = () => {},
  ) {}

  private paths(): string[] {
    const p = this.pvs();
    if (!p.length) throw new Error(`no PV of volume group '${this.name}' found`);
    return p;
  }

  /** The committed generation (shared lock). */
  read(): Promise<Envelope> {
    return serial(this.name, async () => {
      const devs = openLocked(this.paths(), 'sh');
      try {
        return read(this.name, devs).env;
      } finally {
        closeAll(devs);
      }
    });
  }

  /**
   * `tm update VG --sync 'vol-activate --active | dmactivate | dmexec' -- TOOL ARGS`,
   * in this process: the kernel follows the committed metadata for every LV
   * active now (a grow of an attached volume reloads its table), nothing else.
   */
  update(tool: string, args: string[]): Promise<Envelope> {
    return serial(this.name, async () => {
      const devs = openLocked(this.paths(), 'ex');
      try {
        const mutate = async (vg: Vg) => {
          const r = await runInProcess(tool, args, vg);
          if (!r) throw new Error(`${tool} is not a mutator`);
          for (const n of r.notes) this.log(n);
          return r.doc;
        };
        const log = (l: string) => this.log(l);
        return await update(this.name, devs, finishingMerges(mutate, log), { sync: this.participant(), origin: originNow(['dataset-agent', 'dvm', tool, ...args]), description: [tool, ...args].join(' ').slice(0, 4096) });
      } finally {
        closeAll(devs);
      }
    });
  }

  /** Commits a generation without the snapshots whose merge the kernel finished (the origins map plain again); null: none had. */
  settleMerges(): Promise<Envelope | null> {
    return serial(this.name, async () => {
      const devs = openLocked(this.paths(), 'ex');
      try {
        const cur = read(this.name, devs).env.vg;
        const done = mergedNow(cur);
        if (!done.size) return null;
        this.log(`merged: ${cur.lvs.filter((l) => done.has(l.id)).map((l) => l.name).join(', ')}`);
        // The lock is held from the read on: the generation the update reads is `cur`.
        return await update(this.name, devs, async (vg) => dropFinishedMerges(vg, done), { sync: this.participant(), origin: originNow(['dataset-agent', 'dvm', 'merged']), description: 'snapshot merges finished' });
      } finally {
        closeAll(devs);
      }
    });
  }

  /** The standard participant, in process: keep active what is active now. */
  private participant(): Participant {
    return async (phase, env) => {
      const want = desiredState(env, { all: false, lvs: [], deactivate: [], partial: false }, { devOf, current: queryKernel });
      await this.run(planProgram(queryKernel(want.scope), want, { stage: stageFromPhase(phase, false) }));
    };
  }

  /** Activate (`lvs`) or deactivate LVs, keeping every other LV as it is: vol-activate [--lv|--deactivate] | dmactivate | dmexec. */
  activation(sel: { lvs?: string[]; deactivate?: string[] }): Promise<void> {
    return serial(this.name, async () => {
      const devs = openLocked(this.paths(), 'sh');
      let env: Envelope;
      try {
        env = read(this.name, devs).env;
      } finally {
        closeAll(devs);
      }
      const want = desiredState(env, { all: false, lvs: sel.lvs ?? [], deactivate: sel.deactivate ?? [], partial: false }, { devOf, current: queryKernel });
      await this.run(planProgram(queryKernel(want.scope), want, { stage: false }));
    });
  }

  private async run(p: DmProgram): Promise<void> {
    if (!p.steps.length) return;
    if (suspends(p)) {
      this.log(`dmexec: ${p.steps.length} steps`);
      const r = await execa(process.execPath, [toolShim('dmexec')], { input: canonicalJson(p), reject: false });
      if (r.exitCode !== 0) throw new Error(String(r.stderr).trim().split('\n').pop() || `dmexec exited with ${r.exitCode}`);
      return;
    }
    const ctl = DmControl.open(loadNative());
    try {
      const res = execute(p, ctl, { lock: 'none' });
      if (!res.ok) {
        const bad = res.steps.find((s) => !s.ok && !s.recovery);
        throw new Error(`dm ${bad?.op ?? 'step'} '${bad?.name ?? '?'}' failed: ${bad?.error ?? bad?.message ?? 'unknown error'}`);
      }
    } finally {
      ctl.close();
    }
  }

  /** The kernel's devices of this VG. */
  kernel(vgId: string): DmDoc {
    return queryKernel(vgScope(vgId));
  }

  /** The top dm device of an LV, when the kernel has it. */
  device(vg: Vg, lv: Lv, kernel: DmDoc): DmDevice | undefined {
    return kernel.devices.find((d) => d.uuid === lvUuid(vg.id, lv.id));
  }

  mapperPath(lv: string): string {
    return `/dev/mapper/${dmName(this.name, lv)}`;
  }
}
