// LVM2 as a reference allocator: a private sandbox of loop devices over
// sparse files, driven with --driverloaded n (metadata only, no device-mapper),
// with its own lvm.conf so that the host's LVM state is never read or written.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Vg } from '../../src/metadata-manip/model.js';
import { ensurePackages } from './packages.js';

/**
 * What the comparisons need: root, loop devices and LVM2 itself, installed
 * from Debian when missing (a fresh machine's first run compares too). Throws
 * when it cannot have them: the root tier never skips a comparison.
 */
export function requireLvm2(): void {
  if (process.getuid?.() !== 0) throw new Error('the LVM2 comparison needs root (loop devices); it belongs to the root tier');
  ensurePackages({ lvm2: '/sbin/lvm', mount: '/sbin/losetup' });
  execFileSync('lvm', ['version'], { stdio: 'ignore' });
}

export interface SegmentText {
  lv: string;
  text: string;
}

export class Lvm2Sandbox {
  readonly vg: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly loops: string[] = [];
  /** LVs created as raid1: their extends need --nosync while inactive. */
  readonly mirrored = new Set<string>();
  /** loop device → the PV id we give it in dvm.vg/1 */
  readonly pvIds = new Map<string, string>();

  private constructor(
    private readonly dir: string,
    sizesMiB: number[],
    extentMiB: number,
    private readonly driverLoaded: boolean,
  ) {
    this.vg = `dvmcmp${process.pid}`;
    const conf = path.join(dir, 'etc');
    mkdirSync(conf);
    mkdirSync(path.join(dir, 'lock'));
    this.env = { ...process.env, LVM_SYSTEM_DIR: conf, LVM_SUPPRESS_FD_WARNINGS: '1' };
    try {
      for (let i = 0; i < sizesMiB.length; i++) {
        const file = path.join(dir, `pv${i}.img`);
        writeFileSync(file, '');
        execFileSync('truncate', ['-s', `${sizesMiB[i]}M`, file]);
        this.loops.push(execFileSync('losetup', ['-f', '--show', file], { encoding: 'utf8' }).trim());
      }
      const accept = this.loops.map((l) => `"a|^${l}$|"`).join(', ');
      writeFileSync(
        path.join(conf, 'lvm.conf'),
        [
          `devices { filter = [ ${accept}, "r|.*|" ] global_filter = [ ${accept}, "r|.*|" ] use_devicesfile = 0 obtain_device_list_from_udev = 0 hints = "none" }`,
          `activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }`,
          `global { use_lvmlockd = 0 locking_dir = "${path.join(dir, 'lock')}" }`,
          `backup { backup = 0 archive = 0 }`,
          `allocation { maximise_cling = 1 }`,
        ].join('\n') + '\n',
      );
      this.lvm(['pvcreate', '-q', '-y', ...this.loops]);
      this.lvm(['vgcreate', '-q', '-s', `${extentMiB}m`, this.vg, ...this.loops]);
      this.loops.forEach((l, i) => this.pvIds.set(l, `pv${String(i).padStart(2, '0')}xxxxxxxxxxxx`));
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** driverLoaded: let LVM use device-mapper (inside the VM; raid1 needs it). */
  static create(sizesMiB: number[], extentMiB = 1, driverLoaded = false): Lvm2Sandbox {
    return new Lvm2Sandbox(mkdtempSync(path.join(tmpdir(), 'dvm-lvm2-')), sizesMiB, extentMiB, driverLoaded);
  }

  pvId(i: number): string {
    return this.pvIds.get(this.loops[i])!;
  }

  loop(i: number): string {
    return this.loops[i];
  }

  /** Run an lvm command; throws with LVM's stderr when it fails. */
  lvm(args: string[]): string {
    try {
      return execFileSync('lvm', [...args, ...(this.driverLoaded ? [] : ['--driverloaded', 'n'])], { env: this.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stderr?: string; status?: number };
      const lines = String(err.stderr ?? '').split('\n').filter((l) => l.trim() && !/WARNING|leaked/.test(l));
      throw new Error(`lvm ${args.join(' ')} failed (${err.status}): ${lines.join(' | ')}`);
    }
  }

  private report(args: string[], key: string): Record<string, string>[] {
    const out = JSON.parse(this.lvm([...args, '--reportformat', 'json']));
    return out.report[0][key];
  }

  /** The same VG as an empty-LV dvm.vg/1 document, PVs in LVM's order with LVM's PE counts. */
  emptyVgDoc(): Vg {
    const pvs = this.report(['pvs', '-o', 'pv_name,pe_start,pv_pe_count,dev_size', '--units', 's', '--nosuffix', ...this.loops], 'pv');
    const ext = this.report(['vgs', '-o', 'vg_extent_size', '--units', 's', '--nosuffix', this.vg], 'vg')[0].vg_extent_size;
    // The VG's own PV order (its metadata's pv0, pv1, ...) is the allocation order;
    // it need not be the order the loop devices were set up in.
    const backup = path.join(this.dir, 'vg.backup');
    this.lvm(['vgcfgbackup', '-q', '-f', backup, this.vg]);
    const text = readFileSync(backup, 'utf8');
    const order = new Map([...text.matchAll(/device = "([^"]+)"/g)].map((m, i) => [m[1], i]));
    pvs.sort((a, b) => order.get(a.pv_name)! - order.get(b.pv_name)!);
    return {
      format: 'dvm.vg/1',
      name: this.vg,
      id: 'cmpvg000000000000000000000000000',
      seqno: 1,
      extent_size: Number(ext),
      pvs: pvs.map((p) => ({ id: this.pvIds.get(p.pv_name)!, size: Number(p.dev_size), pe_start: Number(p.pe_start), pe_count: Number(p.pv_pe_count), flags: ['allocatable'] })),
      lvs: [],
    };
  }

  /**
   * Every LV's segments as `LV start+count type PV:first-last ...`, hidden
   * sub-LVs included and raid1 tops left out (their layout is their images').
   */
  layout(): string[] {
    const segs = this.report(['lvs', '-a', '--segments', '-o', 'lv_name,seg_start_pe,seg_size_pe,segtype,seg_pe_ranges', this.vg], 'seg');
    const out: string[] = [];
    for (const s of segs) {
      if (s.segtype === 'raid1') continue;
      const lv = s.lv_name.replace(/^\[|\]$/g, '');
      const ranges = s.seg_pe_ranges
        .split(' ')
        .filter(Boolean)
        .map((r) => {
          const [dev, span] = r.split(':');
          return `${this.pvIds.get(dev) ?? dev}:${span}`;
        });
      out.push(`${lv} ${s.seg_start_pe}+${s.seg_size_pe} ${s.segtype} ${ranges.join(' ')}`);
    }
    return out.sort();
  }

  destroy(): void {
    try {
      this.lvm(['vgremove', '-q', '-f', this.vg]);
    } catch {
      /* the VG may not exist yet */
    }
    for (const l of this.loops) {
      try {
        execFileSync('losetup', ['-d', l]);
      } catch {
        /* already gone */
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Our layout in the same text form as Lvm2Sandbox.layout(). */
export function dvmLayout(vg: Vg): string[] {
  const out: string[] = [];
  for (const lv of vg.lvs) {
    for (const s of lv.segments) {
      if (s.type === 'raid1') continue;
      const len = s.type === 'striped' ? s.extent_count / s.areas.length : s.extent_count;
      const ranges = s.areas.map((a) => ('pv' in a ? `${a.pv}:${a.pe}-${a.pe + len - 1}` : `${a.lv}:${a.le}`));
      out.push(`${lv.name} ${s.start_extent}+${s.extent_count} ${s.type} ${ranges.join(' ')}`);
    }
  }
  return out.sort();
}

/** One request, given to both LVM2 and dvm. Sizes in extents; PVs by index. */
export type Op =
  | { op: 'create'; name: string; extents: number | string; stripes?: number; mirrors?: number; pvs?: number[] }
  | { op: 'extend'; name: string; extents: number | string; pvs?: number[] }
  | { op: 'reduce'; name: string; extents: number }
  | { op: 'remove'; name: string };

export function lvmArgs(sb: Lvm2Sandbox, o: Op): string[] {
  const pvs = ('pvs' in o && o.pvs ? o.pvs : []).map((i) => sb.loop(i));
  const lv = `${sb.vg}/${o.name}`;
  switch (o.op) {
    case 'create': {
      if (o.mirrors) sb.mirrored.add(o.name);
      const layout = o.mirrors ? ['--type', 'raid1', '-m', String(o.mirrors), '--nosync'] : o.stripes && o.stripes > 1 ? ['-i', String(o.stripes)] : [];
      return ['lvcreate', '-q', '-an', '-Zn', '-Wn', '-y', '-l', String(o.extents), '-n', o.name, ...layout, sb.vg, ...pvs];
    }
    case 'extend':
      // LVM extends raid1 only while it is active (it reads the sync state).
      if (sb.mirrored.has(o.name)) sb.lvm(['lvchange', '-q', '-ay', lv]);
      return ['lvextend', '-q', ...(sb.mirrored.has(o.name) ? ['--nosync'] : []), '-l', `+${o.extents}`, lv, ...pvs];
    // (a string size is a percentage such as 100%FREE, given to both as is)
    case 'reduce':
      return ['lvreduce', '-q', '-f', '-l', `-${o.extents}`, lv];
    case 'remove':
      return ['lvremove', '-q', '-f', lv];
  }
}
