// Finding dvm PVs: read only the label and the two header copies of each
// candidate device (a few KiB), never the metadata ring.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { byCodeUnits } from '../lib/order.js';
import path from 'node:path';
import { FileDev } from '../pv-format/device.js';
import { BLOCK, MDA_OFFSET, decodeHeader, type Header } from '../pv-format/layout.js';
import { newest } from '../pv-format/pv.js';
import { readLabel } from '../pv-format/pv.js';

export interface Found {
  path: string;
  pvId: string;
  vgId: string;
  vgName: string | null; // null when both header copies are unreadable
  seqno: number | null;
}

/** Block devices the kernel knows, with a non-zero size (unattached loops are 0). */
export function systemBlockDevices(sysRoot = '/sys/class/block'): string[] {
  let names: string[];
  try {
    names = readdirSync(sysRoot);
  } catch {
    try {
      names = readFileSync('/proc/partitions', 'utf8').split('\n').slice(2).map((l) => l.trim().split(/\s+/)[3]).filter(Boolean);
    } catch {
      return [];
    }
  }
  const out: string[] = [];
  for (const n of names.sort()) {
    // floppies and optical drives can block for seconds on open/read; never PVs here
    if (/^(fd|sr)\d/.test(n)) continue;
    if (/^dm-\d+$/.test(n) && !dmScannable(path.join(sysRoot, n, 'dm'))) continue;
    if (claimedByOthers(sysRoot, n) || hasPartitions(sysRoot, n)) continue;
    try {
      if (Number(readFileSync(path.join(sysRoot, n, 'size'), 'utf8').trim()) === 0) continue;
    } catch {
      // no size file (the /proc/partitions fallback): try it anyway
    }
    const dev = `/dev/${n}`;
    if (existsSync(dev)) out.push(dev);
  }
  return out;
}

/**
 * What discover never opens, as LVM's filters decide (docs/discover.md):
 * opening a device bumps its open count, which another tool's `remove` sees as
 * EBUSY, and reading a suspended one blocks. A dm device is skipped when it is
 * suspended, or is an LV of any dvm VG (uuid DVM-…) or of LVM2 (LVM-…): PVs
 * nested in LVs are not scanned, as LVM's scan_lvs=0 default.
 */
function dmScannable(dmSys: string): boolean {
  try {
    if (readFileSync(path.join(dmSys, 'suspended'), 'utf8').trim() === '1') return false;
    const uuid = readFileSync(path.join(dmSys, 'uuid'), 'utf8');
    return !uuid.startsWith('DVM-') && !uuid.startsWith('LVM-');
  } catch {
    return true; // no dm attributes: treat as any other device
  }
}

/**
 * A device another stack has claimed: it has holders (an md array, a crypt or
 * multipath map, an LVM2 LV on it) and none of them is a dvm LV. A dvm PV whose
 * LVs are active is held by DVM-… devices only, so it is still scanned.
 */
function claimedByOthers(sysRoot: string, n: string): boolean {
  let holders: string[];
  try {
    holders = readdirSync(path.join(sysRoot, n, 'holders'));
  } catch {
    return false;
  }
  return holders.some((h) => {
    try {
      return !readFileSync(path.join(sysRoot, h, 'dm', 'uuid'), 'utf8').startsWith('DVM-');
    } catch {
      return true; // not a dm device (md, bcache...): someone else's
    }
  });
}

/** A whole disk with partitions: its PVs are on the partitions (LVM's partition filter). */
function hasPartitions(sysRoot: string, n: string): boolean {
  try {
    return readdirSync(path.join(sysRoot, n)).some((e) => e.startsWith(n) && existsSync(path.join(sysRoot, n, e, 'partition')));
  } catch {
    return false;
  }
}

export function dirEntries(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .map((n) => path.resolve(dir, n))
    .filter((p) => {
      try {
        const st = statSync(p);
        return st.isFile() || st.isBlockDevice();
      } catch {
        return false;
      }
    });
}

/** The PV on one device, or null (not a PV, unreadable, or not ours). */
export function probe(p: string): Found | null {
  let dev: FileDev;
  try {
    dev = FileDev.open(p, false);
  } catch {
    return null;
  }
  try {
    let label = null;
    try {
      label = readLabel(dev);
    } catch {
      label = null;
    }
    const headers: (Header | null)[] = [null, null];
    if (dev.size >= MDA_OFFSET + 2 * BLOCK) {
      for (const copy of [0, 1]) {
        try {
          headers[copy] = decodeHeader(dev.read(MDA_OFFSET + copy * BLOCK, BLOCK), copy, label ? { vgId: label.vgId, pvId: label.pvId, mdaSize: label.mdaSize } : null);
        } catch {
          headers[copy] = null;
        }
      }
    }
    // Without a label, only agreeing header copies identify a PV (tm recover relabels it).
    if (!label && headers[0] && headers[1] && (headers[0].pvId !== headers[1].pvId || headers[0].vgId !== headers[1].vgId)) return null;
    const h = newest(headers);
    if (!label && !h) return null;
    const seqno = h ? Math.max(h.committed?.seqno ?? 0, 0) || null : null;
    return { path: p, pvId: label?.pvId ?? h!.pvId, vgId: label?.vgId ?? h!.vgId, vgName: h?.vgName ?? null, seqno };
  } catch {
    return null;
  } finally {
    dev.close();
  }
}

export interface Discovery {
  format: 'dvm.discover/1';
  vgs: { name: string | null; id: string; seqno: number | null; pvs: { id: string; path: string; seqno: number | null }[] }[];
  duplicates: { pv: string; paths: string[] }[];
}

/**
 * What makes two paths one device, as tm decides it (lock.ts): the device
 * number for a block device (/dev/loop0 and /dev/block/7:0 are one), device
 * and inode for a file (a hard link or a symlink is the same file, not a
 * cloned disk). Null when the path cannot be stat'ed.
 */
export function identity(p: string): string | null {
  try {
    const st = statSync(p);
    return st.isBlockDevice() ? `b:${st.rdev}` : `f:${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

export function discover(candidates: string[]): Discovery {
  const seen = new Set<string>();
  const found: Found[] = [];
  for (const c of candidates) {
    const id = identity(c);
    if (id === null || seen.has(id)) continue;
    seen.add(id);
    const f = probe(c);
    if (f) found.push(f);
  }
  const byVg = new Map<string, Found[]>();
  for (const f of found) (byVg.get(f.vgId) ?? byVg.set(f.vgId, []).get(f.vgId)!).push(f);
  const vgs = [...byVg.entries()].map(([id, fs]) => {
    const named = fs.filter((f) => f.vgName !== null).sort((a, b) => (b.seqno ?? 0) - (a.seqno ?? 0));
    return {
      name: named[0]?.vgName ?? null,
      id,
      seqno: named[0]?.seqno ?? null,
      pvs: fs.map((f) => ({ id: f.pvId, path: f.path, seqno: f.seqno })).sort((a, b) => byCodeUnits(a.path, b.path)),
    };
  });
  vgs.sort((a, b) => byCodeUnits(String(a.name), String(b.name)) || byCodeUnits(a.id, b.id));
  const byPv = new Map<string, string[]>();
  for (const f of found) (byPv.get(f.pvId) ?? byPv.set(f.pvId, []).get(f.pvId)!).push(f.path);
  const duplicates = [...byPv.entries()].filter(([, ps]) => ps.length > 1).map(([pv, paths]) => ({ pv, paths: paths.sort() }));
  return { format: 'dvm.discover/1', vgs, duplicates };
}
