// Activation cases (need device-mapper and root: run inside the test VM, or
// here where /dev/mapper/control works). Cases 4 and 5 of bench/README.md:
// 200 LVs activated and deactivated, and lv-extend of an active LV through the
// two-phase participant; dvm first (in both environments, interleaved), then
// LVM2 on the same loop devices.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { envs, measure, measureBoth, sample, median, sh, type Envs, type Sample } from './measure.js';
import { withLvs, privateLvmEnv } from './lvm2-meta.js';
import type { Row } from './host-cases.js';

const N = Number(process.env.DVM_BENCH_ACTIVATE_LVS ?? 200);
const VG = 'benchact';

const med = (s: Sample[]): Sample => ({ ms: median(s.map((x) => x.ms)), maxRssKiB: Math.max(...s.map((x) => x.maxRssKiB)) });

/** Alternate `up` and `down` `runs` times (each needs the other's end state); medians of each. */
function upDown(runs: number, up: string, down: string, env?: NodeJS.ProcessEnv): [Sample, Sample] {
  const u: Sample[] = [];
  const d: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    u.push(sample(up, env));
    d.push(sample(down, env));
  }
  return [med(u), med(d)];
}

/** upDown in both environments, interleaved run by run. */
function upDownBoth(runs: number, up: string, down: string, e: Envs): Record<'machine' | 'bare', [Sample, Sample]> {
  const got = { machine: { u: [] as Sample[], d: [] as Sample[] }, bare: { u: [] as Sample[], d: [] as Sample[] } };
  for (let i = 0; i < runs; i++) {
    for (const w of i % 2 ? (['bare', 'machine'] as const) : (['machine', 'bare'] as const)) {
      got[w].u.push(sample(up, e[w]));
      got[w].d.push(sample(down, e[w]));
    }
  }
  return { machine: [med(got.machine.u), med(got.machine.d)], bare: [med(got.bare.u), med(got.bare.d)] };
}

/** dm devices whose name starts with `prefix` (counted through dmsetup: neither side's own tool). */
function dmCount(prefix: string): number {
  return sh('dmsetup ls 2>/dev/null || true')
    .split('\n')
    .filter((l) => l.startsWith(prefix)).length;
}

export function vmCases(root: string, runs: number): Row[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dvm-bench-vm-'));
  const loops: string[] = [];
  // The tools by their names, so that the --sync participant (run by sh -c) finds them.
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  for (const f of readdirSync(path.join(root, 'bin'))) if (f.endsWith('.js')) symlinkSync(path.join(root, 'bin', f), path.join(bin, f.slice(0, -3)));
  const env = { ...process.env, PATH: `${bin}:${path.dirname(process.execPath)}:${process.env.PATH}` };
  const fill = `${process.execPath} ${path.join(root, 'dist/bench/fill.js')}`;
  const rows: Row[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const f = path.join(dir, `pv${i}.img`);
      sh(`truncate -s 2G ${f}`);
      loops.push(sh(`losetup -f --show ${f}`).trim());
    }
    const [a, b] = loops;
    const devs = loops.join(' ');
    const wipe = () => loops.forEach((l) => sh(`dd if=/dev/zero of=${l} bs=1M count=16 conv=notrunc status=none`));

    // ---- dvm ----
    wipe();
    sh(`tm init ${VG} ${devs} --extent-size 4M > /dev/null`, env);
    sh(`tm update ${VG} ${devs} -- ${fill} ${N} > /dev/null`, env);
    const read = `discover --dev ${a} --dev ${b} ${VG} | tm read ${VG}`;
    const e = envs(env);
    const ud = upDownBoth(
      runs,
      `${read} | vol-activate --all | dmactivate | dmexec > /dev/null && test $(dmsetup ls | grep -c '^${VG}-') -eq ${N}`,
      // vol-activate --none: every LV inactive, as vgchange -an.
      `${read} | vol-activate --none | dmactivate | dmexec > /dev/null && ! dmsetup ls | grep -q '^${VG}-'`,
      e,
    );
    // Case 5: one more LV, active, extended through the two-phase participant.
    sh(`tm update ${VG} ${devs} -- lv-create data 64M > /dev/null`, env);
    sh(`${read} | vol-activate --lv data | dmactivate | dmexec > /dev/null`, env);
    const sync = `'vol-activate --active | dmactivate | dmexec'`;
    const dvmExtend = measureBoth(runs, () => `tm update ${VG} ${devs} --sync ${sync} -- lv-extend data +4M > /dev/null`, e);
    const dvmSize = Number(sh(`blockdev --getsz /dev/mapper/${VG}-data`).trim());
    if (dvmSize !== (64 + 4 * 2 * runs) * 2048) throw new Error(`dvm extend: ${VG}-data has ${dvmSize} sectors`);
    sh(`${read} | vol-activate --deactivate data | dmactivate | dmexec > /dev/null`, env);
    if (dmCount(`${VG}-`)) throw new Error('dvm devices left behind');

    // ---- LVM2, same devices, device-mapper loaded, no udev ----
    wipe();
    const lenv = privateLvmEnv(path.join(dir, 'lvm'), loops, env);
    sh(`lvm pvcreate -q -y -ff ${devs}`, lenv);
    sh(`lvm vgcreate -q -s 4m ${VG} ${devs}`, lenv);
    const backup = path.join(dir, 'empty.vg');
    sh(`lvm vgcfgbackup -q -f ${backup} ${VG}`, lenv);
    const empty = readFileSync(backup, 'utf8');
    const pvExtents = [...empty.matchAll(/pe_count = (\d+)/g)].map((m) => Number(m[1]));
    const meta = path.join(dir, 'filled.vg');
    writeFileSync(meta, withLvs(empty, N, pvExtents));
    sh(`lvm vgcfgrestore -q -f ${meta} ${VG}`, lenv);
    const [lvmUp, lvmDown] = upDown(
      runs,
      `lvm vgchange -q -ay ${VG} > /dev/null && test $(dmsetup ls | grep -c '^${VG}-') -eq ${N}`,
      `lvm vgchange -q -an ${VG} > /dev/null && ! dmsetup ls | grep -q '^${VG}-'`,
      lenv,
    );
    sh(`lvm lvcreate -q -an -Zn -y -L64M -n data ${VG}`, lenv);
    sh(`lvm lvchange -q -ay ${VG}/data`, lenv);
    const lvmExtend = measure(runs, () => `lvm lvextend -q -L+4M ${VG}/data > /dev/null`, lenv);
    const lvmSize = Number(sh(`blockdev --getsz /dev/mapper/${VG}-data`).trim());
    if (lvmSize !== (64 + 4 * runs) * 2048) throw new Error(`lvm2 extend: ${VG}-data has ${lvmSize} sectors`);
    sh(`lvm vgchange -q -an ${VG}`, lenv);
    sh(`lvm vgremove -q -f ${VG}`, lenv);

    rows.push({ case: `4. activate ${N} LVs (pipeline vs vgchange -ay)`, dvm: ud.machine[0], bare: ud.bare[0], lvm2: lvmUp });
    rows.push({ case: `4. deactivate ${N} LVs (vs vgchange -an)`, dvm: ud.machine[1], bare: ud.bare[1], lvm2: lvmDown });
    rows.push({ case: '5. lv-extend active LV, 2PC --sync (vs lvextend)', dvm: dvmExtend.machine, bare: dvmExtend.bare, lvm2: lvmExtend, note: `VG of ${N + 1} LVs, 1 active` });
    return rows;
  } finally {
    try {
      // Leave no device behind whatever failed (both sides' names start with the VG's).
      for (const l of sh('dmsetup ls 2>/dev/null || true').split('\n')) if (l.startsWith(`${VG}-`)) sh(`dmsetup remove -f ${l.split(/\s/)[0]} || true`);
    } catch {
      /* best effort */
    }
    for (const l of loops) sh(`losetup -d ${l} || true`);
    rmSync(dir, { recursive: true, force: true });
  }
}
