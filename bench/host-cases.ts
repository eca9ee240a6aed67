// Metadata-only cases on the host: dvm and LVM2 (--driverloaded n) on the same
// loop devices in the same run. Cases 1-3 and 6 of bench/README.md.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measure, sh, type Sample } from './measure.js';
import { privateLvmEnv, withLvs } from './lvm2-meta.js';

export interface Row {
  case: string;
  dvm: Sample | null;
  lvm2: Sample | null;
  note?: string;
}

// Unique per run: discover scans every block device on the machine, and
// another run's VG of the same name would make the name ambiguous.
const VG = `bench${process.pid}`;
const BIN = (root: string, t: string) => `${process.execPath} ${path.join(root, 'bin', `${t}.js`)}`;

export function hostCases(root: string, runs: number): Row[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dvm-bench-'));
  const loops: string[] = [];
  const rows: Row[] = [];
  const tm = BIN(root, 'tm');
  const report = BIN(root, 'report');
  const discover = BIN(root, 'discover');
  const fill = `${process.execPath} ${path.join(root, 'dist/bench/fill.js')}`;
  try {
    for (let i = 0; i < 2; i++) {
      const f = path.join(dir, `pv${i}.img`);
      sh(`truncate -s 24G ${f}`);
      loops.push(sh(`losetup -f --show ${f}`).trim());
    }
    const devs = loops.join(' ');
    const wipe = () => loops.forEach((l) => sh(`dd if=/dev/zero of=${l} bs=1M count=16 conv=notrunc status=none`));

    // ---- dvm ----
    const dvm = new Map<string, Sample>();
    wipe();
    sh(`${tm} init ${VG} ${devs} --extent-size 4M > /dev/null`);
    let have = 0;
    for (const n of [10, 1000, 10000]) {
      sh(`${tm} update ${VG} ${devs} -- ${fill} ${n - have} > /dev/null`);
      have = n;
      dvm.set(`create@${n}`, measure(runs, (i) => `${tm} update ${VG} ${devs} -- lv-create new${n}x${i} 4M > /dev/null`));
      // Before the in-process mutators: the same commit with lv-create forked.
      if (n === 10) dvm.set('createFork@10', measure(runs, (i) => `${tm} update ${VG} ${devs} -- lv-create fork${n}x${i} 4M > /dev/null`, { ...process.env, DVM_TM_FORK: '1' }));
      dvm.set(`report@${n}`, measure(runs, () => `${discover} --dev ${loops[0]} --dev ${loops[1]} ${VG} | ${tm} read ${VG} | ${report} ${VG} > /dev/null`));
      dvm.set(`read@${n}`, measure(runs, () => `${tm} read ${VG} ${devs} > /dev/null`));
      have = n + (n === 10 ? 2 : 1) * runs; // the measured creates added LVs too
    }

    // ---- LVM2, same devices ----
    const lvm = new Map<string, Sample>();
    let lvmLimit = 'not reached';
    wipe();
    const env = privateLvmEnv(path.join(dir, 'lvm'), loops);
    const lvmc = (args: string) => `lvm ${args} --driverloaded n`;
    sh(lvmc(`pvcreate -q -y -ff ${devs}`), env);
    sh(lvmc(`vgcreate -q -s 4m ${VG} ${devs}`), env);
    const backupFile = path.join(dir, 'empty.vg');
    sh(lvmc(`vgcfgbackup -q -f ${backupFile} ${VG}`), env);
    const empty = readFileSync(backupFile, 'utf8');
    const pvExtents = [...empty.matchAll(/pe_count = (\d+)/g)].map((m) => Number(m[1]));
    const restore = (n: number) => {
      const f = path.join(dir, `n${n}.vg`);
      writeFileSync(f, withLvs(empty, n, pvExtents));
      sh(lvmc(`vgcfgrestore -q -f ${f} ${VG}`), env);
    };
    for (const n of [10, 1000]) {
      restore(n);
      lvm.set(`create@${n}`, measure(runs, (i) => lvmc(`lvcreate -q -an -Zn -y -L4M -n new${n}x${i} ${VG}`), env));
      lvm.set(`report@${n}`, measure(runs, () => lvmc(`lvs ${VG}`) + ' > /dev/null', env));
    }
    // Where LVM2's default metadata area gives out: bisect on vgcfgrestore.
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
    try {
      sh(lvmc(`vgremove -q -f ${VG}`), env);
    } catch {
      /* best effort */
    }

    const pair = (label: string, key: string, note?: string) => rows.push({ case: label, dvm: dvm.get(key) ?? null, lvm2: lvm.get(key) ?? null, note });
    pair('1. lv-create commit, 10 LVs', 'create@10');
    rows.push({ case: '1. the same, mutator forked (DVM_TM_FORK=1)', dvm: dvm.get('createFork@10') ?? null, lvm2: lvm.get('create@10') ?? null });
    pair('2. lv-create commit, 1,000 LVs', 'create@1000');
    pair('2. lv-create commit, 10,000 LVs', 'create@10000', `LVM2: ${lvmLimit}`);
    pair('3. report (discover|tm read|report vs lvs), 10 LVs', 'report@10');
    pair('3. report, 1,000 LVs', 'report@1000');
    pair('3. report, 10,000 LVs', 'report@10000');
    pair('   tm read alone, 10,000 LVs', 'read@10000');
    return rows;
  } finally {
    for (const l of loops) sh(`losetup -d ${l} || true`);
    rmSync(dir, { recursive: true, force: true });
  }
}
