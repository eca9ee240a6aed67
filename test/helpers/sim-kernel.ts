// A simulated device-mapper that runs dvm.dmexec/1 programs with the kernel's
// semantics (those of Linux's drivers/md/dm-ioctl.c) and records every rule a
// program breaks. Written
// independently of the planner's own model, on strings and numbers, so that
// property tests check the planner against something it does not share code with.
import type { DmDoc } from '../../src/lib/dm-doc.js';
import type { DmProgram, DmStep } from '../../src/lib/dm-program.js';
import type { TableLine } from '../../src/lib/dm-table.js';

export interface SimDev {
  name: string;
  uuid: string;
  major: number;
  minor: number;
  live: TableLine[];
  liveRo: boolean;
  inactive: TableLine[] | null;
  inactiveRo: boolean;
  suspended: boolean;
  /** opens from outside dm (a mount, a process) */
  opens: number;
}

/**
 * How an injected failure of a resume leaves the device: nothing changed; the
 * table swap failed (the new table is destroyed, the device stays suspended); or the target's
 * preresume refused (new table live but the device still suspended).
 */
export type ResumeFailure = 'nothing' | 'swap-failed' | 'preresume-failed';

export interface RunOptions {
  /** main step index that fails with EIO */
  failAt?: number;
  resumeFailure?: ResumeFailure;
  /** stop (as if killed) after this many main steps: no recovery runs */
  crashAfter?: number;
}

export interface RunResult {
  ok: boolean;
  failedAt: number | null;
  recoveryRan: boolean;
  recoveryOk: boolean | null;
  /** the recovery steps that ran, in order */
  recoverySteps?: DmStep[];
  executed: number;
}

const DM_MAJOR = 253;
const DEV_RE = /^(\d+):(\d+)$/;

export class SimKernel {
  devs: SimDev[] = [];
  /** PV block devices: "maj:min" → size in sectors */
  pvs = new Map<string, number>();
  violations: string[] = [];
  /** sectors a snapshot-merge still has to merge (0: done) */
  mergeLeft = 0;
  /** uuids of every device a program touched */
  touched = new Set<string>();
  private nextMinor = 0;

  constructor(pvs: Record<string, number> = { '7:0': 1 << 30, '7:1': 1 << 30, '7:2': 1 << 30, '7:3': 1 << 30 }) {
    for (const [k, v] of Object.entries(pvs)) this.pvs.set(k, v);
  }

  clone(): SimKernel {
    const k = new SimKernel({});
    k.pvs = new Map(this.pvs);
    k.devs = structuredClone(this.devs);
    k.nextMinor = this.nextMinor;
    return k;
  }

  byName = (n: string) => this.devs.find((d) => d.name === n);
  byDev = (s: string) => this.devs.find((d) => `${d.major}:${d.minor}` === s);

  /** Make a device directly (test setup: foreign devices, debris). */
  add(name: string, uuid: string, live: TableLine[] = [], opts: Partial<SimDev> = {}): SimDev {
    const d: SimDev = { name, uuid, major: DM_MAJOR, minor: this.nextMinor++, live, liveRo: false, inactive: null, inactiveRo: false, suspended: false, opens: 0, ...opts };
    this.devs.push(d);
    return d;
  }

  /** What `dmexec --query --scope PREFIX` prints (plain prefix match, as dmexec). */
  query(scope: string): DmDoc {
    return {
      format: 'dvm.dm/1',
      scope,
      devices: this.devs
        .filter((d) => d.uuid.startsWith(scope))
        .map((d) => ({
          name: d.name,
          uuid: d.uuid,
          table: structuredClone(d.live),
          inactive_table: d.inactive ? structuredClone(d.inactive) : null,
          read_only: d.liveRo,
          suspended: d.suspended,
          open_count: this.openCount(d),
          // a snapshot's (and a merge's) status: `mergeLeft` sectors of exceptions besides the 16 of metadata
          ...(['snapshot', 'snapshot-merge'].includes(d.live[0]?.target) ? { status: [{ ...d.live[0], params: `${16 + this.mergeLeft}/${d.live[0].length} 16` }] } : {}),
          major: d.major,
          minor: d.minor,
        })),
    };
  }

  size = (d: SimDev) => d.live.reduce((n, l) => n + l.length, 0);
  private deps(lines: TableLine[] | null): string[] {
    return (lines ?? []).flatMap((l) => l.params.split(' ').filter((w) => DEV_RE.test(w)));
  }
  private openCount(d: SimDev): number {
    const me = `${d.major}:${d.minor}`;
    return d.opens + this.devs.filter((o) => o !== d && [...this.deps(o.live), ...this.deps(o.inactive)].includes(me)).length;
  }
  private isSuspendedWithTable = (s: string) => {
    const d = this.byDev(s);
    return d !== undefined && d.suspended && d.live.length > 0;
  };

  run(p: DmProgram, opts: RunOptions = {}): RunResult {
    const res: RunResult = { ok: true, failedAt: null, recoveryRan: false, recoveryOk: null, executed: 0 };
    for (const [i, s] of p.steps.entries()) {
      if (opts.crashAfter !== undefined && i >= opts.crashAfter) return res;
      const err = this.exec(p.scope, s, i === opts.failAt ? (opts.resumeFailure ?? 'nothing') : null);
      res.executed++;
      if (err === null) continue;
      res.ok = false;
      res.failedAt = i;
      // dmexec's rollback (native/dmexec.cc): the failed step's on_error, then
      // the undo list of every completed step, newest first; best effort.
      const rollback = [...(s.on_error ?? []), ...p.steps.slice(0, i).reverse().flatMap((c) => c.undo ?? [])];
      if (rollback.length) {
        res.recoveryRan = true;
        res.recoveryOk = true;
        res.recoverySteps = rollback;
        for (const r of rollback) if (this.exec(p.scope, r, null) !== null) res.recoveryOk = false;
      }
      return res;
    }
    return res;
  }

  /** One step; returns an errno name or null. `inject` makes it fail (with the given partial effect for resume). */
  exec(scope: string, s: DmStep, inject: ResumeFailure | null): string | null {
    const d = this.byName(s.name);
    if (s.op === 'create') {
      if (!s.uuid?.startsWith(scope)) {
        this.violations.push(`create of '${s.name}' outside scope`);
        return 'EPERM';
      }
      if (inject) return 'EIO';
      if (d || this.devs.some((x) => x.uuid === s.uuid)) return 'EBUSY';
      this.touched.add(s.uuid!);
      // A new device has no table and is not suspended (dmsetup info: ACTIVE, "Tables present: None").
      this.add(s.name, s.uuid!, [], { suspended: false, liveRo: s.read_only ?? false });
      return null;
    }
    if (!d) return 'ENXIO';
    if (!d.uuid.startsWith(scope)) {
      this.violations.push(`${s.op} of foreign device '${s.name}'`);
      return 'EPERM';
    }
    this.touched.add(d.uuid);
    switch (s.op) {
      case 'load': {
        // Only the program's own scope counts: another VG's suspended device is not ours to wait on.
        const busy = this.devs.find((x) => x.uuid.startsWith(scope + '-') && x.suspended && x.live.length > 0);
        if (busy) this.violations.push(`load of '${s.name}' while '${busy.name}' is suspended`);
        if (inject) return 'EIO';
        const lines: TableLine[] = [];
        for (const l of s.table ?? []) {
          const words = l.params === '' ? [] : l.params.split(' ');
          const out: string[] = [];
          for (const w of words) {
            if (w.startsWith('dm:')) {
              const ref = this.byName(w.slice(3));
              if (!ref) return 'ENODEV';
              out.push(`${ref.major}:${ref.minor}`);
            } else out.push(w);
          }
          for (const w of out) if (DEV_RE.test(w) && !this.pvs.has(w) && !this.byDev(w)) return 'ENXIO';
          lines.push({ ...l, params: out.join(' ') });
        }
        // dm-raid's constructor reads its metadata and checks its images' size now.
        for (const l of lines)
          if (l.target === 'raid') {
            const w = l.params.split(' ');
            const legs = Number(w[5]);
            for (let k = 0; k < legs; k++) {
              const [meta, data] = [w[6 + 2 * k], w[7 + 2 * k]];
              if (data === '-') continue;
              const md = this.byDev(meta);
              const dd = this.byDev(data);
              if ((md && this.size(md) === 0) || (dd && this.size(dd) < l.length)) return 'EINVAL';
            }
          }
        // dm-snapshot's constructor reads the COW header (persistent store).
        for (const l of lines)
          if (l.target === 'snapshot' || l.target === 'snapshot-merge') {
            const cow = this.byDev(l.params.split(' ')[1]);
            if (cow && this.size(cow) === 0) return 'EINVAL';
          }
        d.inactive = lines;
        d.inactiveRo = s.read_only ?? false;
        return null;
      }
      case 'suspend': {
        const under = this.deps(d.live).find(this.isSuspendedWithTable);
        if (under && !d.suspended) this.violations.push(`suspend of '${s.name}' over suspended ${under}`);
        if (inject) return 'EINTR'; // the kernel undoes the suspend
        d.suspended = true;
        return null;
      }
      case 'resume': {
        const next = d.inactive ?? d.live;
        const under = this.deps(next).find(this.isSuspendedWithTable);
        if (under) this.violations.push(`resume of '${s.name}' onto suspended ${under}`);
        if (inject) {
          if (inject === 'swap-failed' && d.inactive) {
            d.inactive = null;
            d.suspended = true;
          }
          if (inject === 'preresume-failed' && d.inactive) {
            [d.live, d.liveRo, d.inactive] = [d.inactive, d.inactiveRo, null];
            d.suspended = true;
          }
          return 'EIO';
        }
        if (d.inactive) {
          // A snapshot goes live exact only while its origin is suspended (no write
          // to the origin can slip past it); LVM resumes it inside the origin's suspend.
          const snapOf = (t: TableLine[]) => (t[0]?.target === 'snapshot' ? t[0].params.split(' ')[0] : null);
          const real = snapOf(d.inactive);
          if (real !== null && snapOf(d.live) === null) {
            const origin = this.devs.find((o) => ['snapshot-origin', 'snapshot-merge'].includes(o.live[0]?.target) && o.live[0].params.split(' ')[0] === real);
            if (origin && !origin.suspended) this.violations.push(`snapshot '${s.name}' made live while its origin '${origin.name}' runs`);
          }
          if (!this.fits(d.inactive)) {
            d.inactive = null; // the swap failed: the new table is destroyed, the device stays suspended
            d.suspended = true;
            return 'EINVAL';
          }
          [d.live, d.liveRo, d.inactive] = [d.inactive, d.inactiveRo, null];
        }
        if (d.suspended && d.live.length === 0) return 'EINVAL';
        d.suspended = false;
        return null;
      }
      case 'clear':
        if (inject) return 'EIO';
        d.inactive = null;
        return null;
      case 'remove':
        if (inject) return 'EIO';
        if (this.openCount(d) > 0) return 'EBUSY';
        this.devs.splice(this.devs.indexOf(d), 1);
        return null;
      case 'rename':
        if (inject) return 'EIO';
        if (this.byName(s.new_name!)) return 'EBUSY';
        d.name = s.new_name!;
        return null;
      default:
        return inject ? 'EIO' : null;
    }
  }

  /** dm_calculate_queue_limits at swap: every area must lie inside its (non-empty) device. */
  private fits(lines: TableLine[]): boolean {
    for (const l of lines) {
      const w = l.params.split(' ');
      const areas: [string, number, number][] = [];
      if (l.target === 'linear') areas.push([w[0], Number(w[1]), l.length]);
      if (l.target === 'striped') {
        const n = Number(w[0]);
        for (let k = 0; k < n; k++) areas.push([w[2 + 2 * k], Number(w[3 + 2 * k]), l.length / n]);
      }
      // snapshot-origin, snapshot and snapshot-merge read the whole of their -real device
      if (['snapshot-origin', 'snapshot', 'snapshot-merge'].includes(l.target)) {
        const real = this.byDev(w[0]);
        if (real && this.size(real) < l.length) return false;
      }
      for (const [dev, off, len] of areas) {
        const size = this.pvs.get(dev) ?? (this.byDev(dev) ? this.size(this.byDev(dev)!) : 0);
        if (size > 0 && off + len > size) return false;
      }
    }
    return true;
  }
}
