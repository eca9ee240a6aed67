// Metadata-only cases on the host: dvm and LVM2 (--driverloaded n) on the same
// loop devices in the same run (cases 1-3 of bench/README.md). Every dvm case
// runs in both environments (with and without NODE_EXTRA_CA_CERTS), interleaved.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { envs, measure, measureBoth, median, sh, type Sample } from './measure.js';
import { privateLvmEnv, withLvs } from './lvm2-meta.js';
import { ensurePackages } from '../test/helpers/packages.js';

export interface Row {
  case: string;
  /** dvm in the machine's environment */
  dvm: Sample | null;
  /** dvm without NODE_EXTRA_CA_CERTS (absent for rows measured in one environment only) */
  bare?: Sample | null;
  lvm2: Sample | null;
  /** the target, as a ratio to LVM2 or an absolute time, for the bare measurement */
  target?: { ratio?: number; ms?: number };
  /**
   * The same shape of command with empty Node programs (bare): `node -e 0`
   * for one tool, three of them piped for a pipeline. What Node itself
   * costs before dvm runs a line; its ratio to LVM2 is the best a ratio can get.
   */
  floor?: Sample;
  note?: string;
}

// Unique per run: discover scans every block device on the machine, and
// another run's VG of the same name would make the name ambiguous.
const VG = `bench${process.pid}`;
const BIN = (root: string, t: string) => `${process.execPath} ${path.join(root, 'bin', `${t}.js`)}`;

/** Samples gathered over rounds, reduced to medians (and the largest peak memory) at the end. */
class Samples {
  private s: Sample[] = [];
  add(x: Sample): void {
    this.s.push(x);
  }
  get(): Sample | null {
    return this.s.length ? { ms: median(this.s.map((x) => x.ms)), maxRssKiB: Math.max(...this.s.map((x) => x.maxRssKiB)) } : null;
  }
}

export function hostCases(root: string, runs: number): Row[] {
  // A fresh machine has neither the peer nor GNU time: install them, as the tests do.
  ensurePackages({ lvm2: '/sbin/lvm', time: '/usr/bin/time' });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dvm-bench-'));
  const loops: string[] = [];
  const rows: Row[] = [];
  const tm = BIN(root, 'tm');
  const report = BIN(root, 'report');
  const discover = BIN(root, 'discover');
  const fill = `${process.execPath} ${path.join(root, 'dist/bench/fill.js')}`;
  const node = `${process.execPath} -e 0`;
  const e = envs();
  try {
    for (let i = 0; i < 2; i++) {
      const f = path.join(dir, `pv${i}.img`);
      sh(`truncate -s 24G ${f}`);
      loops.push(sh(`losetup -f --show ${f}`).trim());
    }
    const devs = loops.join(' ');
    const wipe = () => loops.forEach((l) => sh(`dd if=/dev/zero of=${l} bs=1M count=16 conv=notrunc status=none`));
    const env = privateLvmEnv(path.join(dir, 'lvm'), loops);
    const lvmc = (args: string) => `lvm ${args} --driverloaded n`;
    const pipeline = `${discover} --dev ${loops[0]} --dev ${loops[1]} ${VG} | ${tm} read ${VG} | ${report} ${VG} > /dev/null`;

    // ---- dvm and LVM2 in alternate rounds on the same devices ----
    // The host's speed drifts by half within a minute (node -e 0 25-45 ms
    // in one run): one sample of each case per round, each round setting up
    // dvm's VG then LVM2's on the same loop devices, keeps the drift out of
    // the ratios. Node alone is sampled in every round too.
    const got = new Map<string, Samples>();
    const at = (k: string) => got.get(k) ?? got.set(k, new Samples()).get(k)!;
    let lvmLimit = 'not reached';
    const lvmSetup = () => {
      wipe();
      sh(lvmc(`pvcreate -q -y -ff ${devs}`), env);
      sh(lvmc(`vgcreate -q -s 4m ${VG} ${devs}`), env);
      const backupFile = path.join(dir, 'empty.vg');
      sh(lvmc(`vgcfgbackup -q -f ${backupFile} ${VG}`), env);
      const empty = readFileSync(backupFile, 'utf8');
      const pvExtents = [...empty.matchAll(/pe_count = (\d+)/g)].map((m) => Number(m[1]));
      return (n: number) => {
        const f = path.join(dir, `n${n}.vg`);
        writeFileSync(f, withLvs(empty, n, pvExtents));
        sh(lvmc(`vgcfgrestore -q -f ${f} ${VG}`), env);
      };
    };
    const lvmRemove = () => {
      try {
        sh(lvmc(`vgremove -q -f ${VG}`), env);
      } catch {
        /* best effort */
      }
    };
    for (let r = 0; r < runs; r++) {
      for (const n of [10, 1000]) {
        wipe();
        sh(`${tm} init ${VG} ${devs} --extent-size 4M > /dev/null`);
        sh(`${tm} update ${VG} ${devs} -- ${fill} ${n} > /dev/null`);
        const c = measureBoth(1, (_i, w) => `${tm} update ${VG} ${devs} -- lv-create new${n}${w}${r} 4M > /dev/null`, e);
        at(`create@${n}:machine`).add(c.machine);
        at(`create@${n}:bare`).add(c.bare);
        const p = measureBoth(1, () => pipeline, e);
        at(`report@${n}:machine`).add(p.machine);
        at(`report@${n}:bare`).add(p.bare);

        const restore = lvmSetup();
        restore(n);
        at(`create@${n}:lvm2`).add(measure(1, () => lvmc(`lvcreate -q -an -Zn -y -L4M -n new${n}x${r} ${VG}`), env));
        at(`report@${n}:lvm2`).add(measure(1, () => lvmc(`lvs ${VG}`) + ' > /dev/null', env));
        lvmRemove();
      }
      at('node').add(measureBoth(1, () => node, e).bare);
      at('node-pipe').add(measureBoth(1, () => `${node} | ${node} | ${node}`, e).bare);
    }

    // Where LVM2's default metadata area gives out: bisect on vgcfgrestore.
    const restore = lvmSetup();
    let lo = 1000;
    let hi = 10000;
    try {
      restore(hi);
      lvmLimit = `none up to ${hi}`;
    } catch {
      while (hi - lo > 25) {
        const mid = Math.floor((lo + hi) / 2);
        try {
          restore(mid);
          lo = mid;
        } catch {
          hi = mid;
        }
      }
      lvmLimit = `fails between ${lo} and ${hi} LVs ("metadata too large for circular buffer")`;
    }
    lvmRemove();

    // ---- dvm alone at 10,000 LVs (LVM2's metadata area cannot hold them) ----
    wipe();
    sh(`${tm} init ${VG} ${devs} --extent-size 4M > /dev/null`);
    sh(`${tm} update ${VG} ${devs} -- ${fill} 10000 > /dev/null`);
    for (const [k, cmd] of [
      ['create@10000', (i: number, w: string) => `${tm} update ${VG} ${devs} -- lv-create new10000${w}${i} 4M > /dev/null`],
      ['report@10000', () => pipeline],
      ['read@10000', () => `${tm} read ${VG} ${devs} > /dev/null`],
    ] as const) {
      const m = measureBoth(runs, cmd, e);
      at(`${k}:machine`).add(m.machine);
      at(`${k}:bare`).add(m.bare);
    }

    const pair = (label: string, key: string, target?: Row['target'], note?: string) =>
      rows.push({
        case: label,
        dvm: at(`${key}:machine`).get(),
        bare: at(`${key}:bare`).get(),
        lvm2: at(`${key}:lvm2`).get(),
        target,
        floor: at(key.startsWith('report@') ? 'node-pipe' : 'node').get() ?? undefined,
        note,
      });
    pair('1. lv-create commit, 10 LVs', 'create@10', { ratio: 1.0 });
    pair('2. lv-create commit, 1,000 LVs', 'create@1000', { ratio: 0.8 });
    pair('2. lv-create commit, 10,000 LVs', 'create@10000', { ms: 200 }, `LVM2: ${lvmLimit}`);
    pair('3. report (discover|tm read|report vs lvs), 10 LVs', 'report@10', { ratio: 1.5 });
    pair('3. report, 1,000 LVs', 'report@1000', { ratio: 1.0 });
    pair('3. report, 10,000 LVs', 'report@10000');
    pair('   tm read alone, 10,000 LVs', 'read@10000');
    return rows;
  } finally {
    for (const l of loops) sh(`losetup -d ${l} || true`);
    rmSync(dir, { recursive: true, force: true });
  }
}
