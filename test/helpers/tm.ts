// Helpers for tm tests: in-memory PV images, an in-process test mutator,
// and replay of recorded writes (crash points).
import { randomBytes } from 'node:crypto';
import { canonicalJson } from '../../src/lib/canonical-json.js';
import type { Vg } from '../../src/lib/vg-types.js';
import { MemDev, type Dev, type WriteRecord } from '../../src/pv-format/device.js';
import { mulberry32 } from '../../src/lib/prng.js';
import { BLOCK, RING_OFFSET, alignUp } from '../../src/pv-format/layout.js';
import { readPv } from '../../src/pv-format/pv.js';
import { writeHeader, writeLabel } from '../../src/transaction-manager/write.js';

export const MiB = 1024 * 1024;

export function memDevs(n: number, size = 2 * MiB): MemDev[] {
  return Array.from({ length: n }, (_, i) => new MemDev(`/mem/pv${i}`, Buffer.alloc(size)));
}
export const cloneDevs = (devs: MemDev[]) => devs.map((d) => new MemDev(d.path, Buffer.from(d.image)));

const A = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const testId = () => [...randomBytes(32)].map((b) => A[b % 62]).join('');

/** Add a linear LV of `n` extents at the first free extents of any present PV. */
export function addLv(name: string, n = 1, pad = 0) {
  return async (vg: Vg): Promise<Vg> => {
    const used = new Map<string, Set<number>>();
    for (const lv of vg.lvs)
      for (const s of lv.segments)
        for (const a of s.areas)
          if ('pv' in a) for (let i = 0; i < s.extent_count; i++) (used.get(a.pv) ?? used.set(a.pv, new Set()).get(a.pv)!).add(a.pe + i);
    for (const pv of vg.pvs) {
      if (pv.flags.includes('missing')) continue;
      const u = used.get(pv.id) ?? new Set();
      for (let pe = 0; pe + n <= pv.pe_count; pe++) {
        if ([...Array(n).keys()].some((i) => u.has(pe + i))) continue;
        vg.lvs.push({ id: testId(), name, flags: [], segments: [{ start_extent: 0, extent_count: n, type: 'linear', areas: [{ pv: pv.id, pe }] }] });
        if (pad) vg.description = randomBytes(pad).toString('base64').slice(0, 4000);
        return vg;
      }
    }
    vg.lvs.push({ id: testId(), name, flags: [], segments: [{ start_extent: 0, extent_count: n, type: 'error', areas: [] }] });
    if (pad) vg.description = randomBytes(pad).toString('base64').slice(0, 4000);
    return vg;
  };
}

/** Canonical text of a VG without the fields tm owns, for exact comparison. */
export const vgText = (vg: Vg) => canonicalJson(vg);

/** Every crash point of a write log: each prefix, and each prefix whose last write is torn at a sector boundary. */
export function* crashPoints(log: WriteRecord[]): Generator<{ name: string; writes: WriteRecord[] }> {
  for (let k = 0; k <= log.length; k++) {
    yield { name: `after ${k} writes`, writes: log.slice(0, k) };
    if (k === log.length) break;
    const w = log[k];
    for (let s = 1; s < w.data.length / 512; s++) {
      yield { name: `after ${k} writes + ${s} sectors of write ${k + 1}`, writes: [...log.slice(0, k), { ...w, data: w.data.subarray(0, s * 512) }] };
    }
  }
}

export function replay(start: MemDev[], writes: WriteRecord[]): MemDev[] {
  const devs = cloneDevs(start);
  for (const w of writes) devs[w.dev].write(w.offset, w.data);
  return devs;
}

export const asDevs = (d: MemDev[]): Dev[] => d;

/** One operation an update issued: a write, or an fsync of one device. */
export type IoOp = { kind: 'write'; w: WriteRecord } | { kind: 'sync'; dev: number };

/** Wraps devices and logs every write and every fsync, in issue order. */
export function recordingIo(devs: Dev[], ops: IoOp[]): Dev[] {
  return devs.map((d, i) => ({
    path: d.path,
    get size() {
      return d.size;
    },
    read: (o: number, l: number) => d.read(o, l),
    write(o: number, data: Buffer) {
      ops.push({ kind: 'write', w: { dev: i, offset: o, data: Buffer.from(data) } });
      d.write(o, data);
    },
    sync() {
      ops.push({ kind: 'sync', dev: i });
      d.sync();
    },
    close: () => d.close(),
  }));
}

/** A deterministic PRNG (mulberry32): sampled crash states are the same on every run. */
export function prng(seed: number): () => number {
  return mulberry32(seed);
}

export interface CrashState {
  name: string;
  writes: WriteRecord[];
}

/**
 * The disk states a crash may leave when writes are not persisted in order.
 * A write is durable once its device was fsynced after it; at a crash, any
 * subset of the writes still pending (issued since their device's last
 * fsync) may have reached the disk, and one of them torn at a sector
 * boundary. Crash moments just before each fsync and at the end cover every
 * other (their pending sets contain the earlier ones'). Every subset is
 * enumerated while a moment has at most `maxPending` pending writes, and
 * tears at every sector while a write has at most 8 sectors (else at 1, 2,
 * half, last-but-one and two seeded random sectors); when all that exceeds
 * `budget`, a seeded sample of `budget` states is taken. Identical states count once.
 */
export function unorderedCrashStates(ops: IoOp[], o: { budget?: number; seed?: number; maxPending?: number } = {}): { states: CrashState[]; candidates: number } {
  const budget = o.budget ?? 2000;
  const rnd = prng(o.seed ?? 17);
  const maxPending = o.maxPending ?? 10;
  const writes: WriteRecord[] = [];
  const opIndex: number[] = []; // write number -> op position
  ops.forEach((op, i) => {
    if (op.kind === 'write') {
      writes.push(op.w);
      opIndex.push(i);
    }
  });
  const moments = ops.map((op, i) => (op.kind === 'sync' ? i : -1)).filter((i) => i >= 0);
  moments.push(ops.length);
  const seen = new Set<string>();
  const all: { key: string; persisted: number[]; torn: [number, number] | null }[] = [];
  const tearsOf = (n: number): number[] => {
    if (n <= 8) return Array.from({ length: n - 1 }, (_, i) => i + 1);
    const s = new Set([1, 2, Math.floor(n / 2), n - 1, 1 + Math.floor(rnd() * (n - 1)), 1 + Math.floor(rnd() * (n - 1))]);
    return [...s].filter((x) => x >= 1 && x < n).sort((a, b) => a - b);
  };
  for (const t of moments) {
    // per device: the position of its last fsync before t
    const lastSync = new Map<number, number>();
    for (let i = 0; i < t; i++) {
      const op = ops[i];
      if (op.kind === 'sync') lastSync.set(op.dev, i);
    }
    const durable: number[] = [];
    const pending: number[] = [];
    writes.forEach((w, k) => {
      if (opIndex[k] >= t) return;
      (opIndex[k] < (lastSync.get(w.dev) ?? -1) ? durable : pending).push(k);
    });
    const subsets: number[][] = [];
    if (pending.length <= maxPending) {
      for (let m = 0; m < 1 << pending.length; m++) subsets.push(pending.filter((_, j) => m & (1 << j)));
    } else {
      for (let i = 0; i < 1 << maxPending; i++) subsets.push(pending.filter(() => rnd() < 0.5));
    }
    for (const s of subsets) {
      const variants: ([number, number] | null)[] = [null];
      for (const k of s) for (const sec of tearsOf(writes[k].data.length / 512)) variants.push([k, sec]);
      for (const torn of variants) {
        const persisted = [...durable, ...s].sort((a, b) => a - b);
        const key = `${persisted.join(',')}|${torn ? torn.join('/') : ''}`;
        if (seen.has(key)) continue;
        seen.add(key);
        all.push({ key, persisted, torn });
      }
    }
  }
  let chosen = all;
  if (all.length > budget) {
    // a seeded partial Fisher-Yates shuffle, then back in generation order
    const idx = all.map((_, i) => i);
    for (let i = 0; i < budget; i++) {
      const j = i + Math.floor(rnd() * (idx.length - i));
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    chosen = idx.slice(0, budget).sort((a, b) => a - b).map((i) => all[i]);
  }
  const states = chosen.map((c) => ({
    name: `writes {${c.persisted.join(',')}} of ${writes.length}${c.torn ? `, write ${c.torn[0]} torn after ${c.torn[1]} sectors` : ''}`,
    writes: c.persisted.map((k) => (c.torn && c.torn[0] === k ? { ...writes[k], data: writes[k].data.subarray(0, c.torn[1] * 512) } : writes[k])),
  }));
  return { states, candidates: all.length };
}

/** Add `n` error-segment LVs with 120-character random names: about 126 bytes of deflated record each. */
export function randomLvs(n: number) {
  return async (vg: Vg): Promise<Vg> => {
    for (let i = 0; i < n; i++) vg.lvs.push({ id: testId(), name: `r${randomBytes(90).toString('base64url')}`, flags: [], segments: [{ start_extent: 0, extent_count: 1, type: 'error', areas: [] }] });
    return vg;
  };
}

/**
 * Shrink the metadata area of freshly initialised PVs to a 6-block ring (the
 * label allows an area smaller than the gap before the data), then commit
 * generations of 1 and 2 blocks: the kept record sits at blocks 2-3 with 2
 * blocks free on either side, so the next record of 3 blocks (`randomLvs(32)`)
 * fits only by wrapping round the ring end. Small, so crash replays that tear
 * every sector stay quick.
 */
export async function ringEndSetup(devs: MemDev[], update: (vgName: string, devs: Dev[], m: (vg: Vg) => Promise<Vg>) => Promise<unknown>): Promise<void> {
  const mdaSize = RING_OFFSET + 6 * BLOCK;
  for (const d of devs) {
    const pv = readPv(d);
    writeLabel(d, { ...pv.label!, mdaSize });
    const ident = { vgId: pv.header!.vgId, pvId: pv.header!.pvId, vgName: pv.header!.vgName, mdaSize };
    writeHeader(pv, ident, pv.header!.committed, null);
    writeHeader(pv, ident, pv.header!.committed, null);
  }
  // 8 LVs: under RAW_RECORD_MAX raw, one block; 37: deflated, two blocks.
  await update('vg0', devs, randomLvs(8));
  await update('vg0', devs, randomLvs(29));
  for (const d of devs) {
    const s = readPv(d).header!.committed!;
    if (s.offset !== RING_OFFSET + 2 * BLOCK || alignUp(s.length, BLOCK) !== 2 * BLOCK) throw new Error(`ringEndSetup: record at ${s.offset}, ${s.length} bytes, not blocks 2-3`);
  }
}
