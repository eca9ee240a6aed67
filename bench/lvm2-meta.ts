import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
// LVM2 text metadata with N one-extent LVs, for vgcfgrestore: the only quick
// way to give LVM2 a VG of 1,000 LVs (lvcreate one by one takes minutes).
const A = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** A deterministic LVM-style uuid (32 chars, grouped 6-4-4-4-4-4-6). */
export function lvmUuid(seed: number): string {
  let x = seed * 2654435761 + 12345;
  let s = '';
  for (let i = 0; i < 32; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    s += A[x % 62];
  }
  return [6, 4, 4, 4, 4, 4, 6].reduce<{ out: string[]; at: number }>((acc, n) => ({ out: [...acc.out, s.slice(acc.at, acc.at + n)], at: acc.at + n }), { out: [], at: 0 }).out.join('-');
}

/**
 * Take a `vgcfgbackup` of the empty VG and add N LVs of one extent each,
 * filling pv0 then pv1 ..., `pvExtents[i]` extents per PV.
 */
export function withLvs(backup: string, n: number, pvExtents: number[]): string {
  const lvs: string[] = [];
  let pv = 0;
  let pe = 0;
  for (let i = 0; i < n; i++) {
    while (pe >= pvExtents[pv]) {
      pv++;
      pe = 0;
      if (pv >= pvExtents.length) throw new Error(`no room for ${n} LVs`);
    }
    lvs.push(
      `fill${i} {\nid = "${lvmUuid(i + 1)}"\nstatus = ["READ", "WRITE", "VISIBLE"]\nflags = []\ncreation_time = 1795300000\ncreation_host = "bench"\nsegment_count = 1\nsegment1 {\nstart_extent = 0\nextent_count = 1\ntype = "striped"\nstripe_count = 1\nstripes = [\n"pv${pv}", ${pe}\n]\n}\n}\n`,
    );
    pe++;
  }
  // The VG block ends at the first line that is a lone "}" at top level.
  const end = backup.indexOf('\n}\n');
  if (end < 0) throw new Error('unexpected vgcfgbackup format');
  const section = `\nlogical_volumes {\n${lvs.join('')}}\n`;
  return backup.slice(0, end) + section + backup.slice(end);
}

/**
 * A private LVM2 configuration in `dir` that sees only `loops`, never waits on
 * udev and keeps no backups: the environment to run lvm commands with.
 */
export function privateLvmEnv(dir: string, loops: string[], base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const lock = path.join(dir, 'lock');
  mkdirSync(lock, { recursive: true });
  const accept = loops.map((l) => `"a|^${l}$|"`).join(', ');
  writeFileSync(
    path.join(dir, 'lvm.conf'),
    `devices { filter = [ ${accept}, "r|.*|" ] global_filter = [ ${accept}, "r|.*|" ] use_devicesfile = 0 obtain_device_list_from_udev = 0 hints = "none" }\n` +
      `activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }\nglobal { use_lvmlockd = 0 locking_dir = "${lock}" }\nbackup { backup = 0 archive = 0 }\n`,
  );
  return { ...base, LVM_SYSTEM_DIR: dir, LVM_SUPPRESS_FD_WARNINGS: '1' };
}
