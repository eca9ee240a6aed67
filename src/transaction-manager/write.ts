// The write side: placing records in a ring, writing headers alternately
// into copy A and B, and labels. Callers fsync (dev.sync) between steps.
import { deflateRaw } from '../lib/raw-deflate.js';
import { failed } from '../lib/errors.js';
import type { Dev } from '../pv-format/device.js';
import {
  BLOCK, LABEL_OFFSET, MDA_OFFSET, RING_OFFSET, alignUp, encodeHeader, encodeLabel, encodeRecord, ringSize, ringSpans,
  type Header, type Label, type Slot,
} from '../pv-format/layout.js';
import { newest, type Generation, type PvRead } from '../pv-format/pv.js';

export const deflate = (b: Buffer) => deflateRaw(b, 6);

export interface Encoded {
  seqno: number;
  record: Buffer;
  hash: Buffer;
}

export function encodeGeneration(vgId: string, seqno: number, json: Buffer, prevHash: Buffer | null): Encoded {
  const { record, hash } = encodeRecord(vgId, seqno, json, prevHash, deflate);
  return { seqno, record, hash };
}
export const reencode = (vgId: string, g: Generation): Encoded => encodeGeneration(vgId, g.seqno, g.json, g.prevHash);

/** The blocks a record of `length` bytes at `offset` covers, as [start, end) mda ranges (two when it wraps). */
const blocksOf = (mdaSize: number, offset: number, length: number) => ringSpans(mdaSize, offset, alignUp(length, BLOCK)).map(([o, l]) => [o, o + l]);

/**
 * Where the next record goes in this PV's ring: right after the newest record
 * that must survive (`keep`), else at the ring start, else right after it
 * wrapping round the ring end (so a record fits whenever the free space does,
 * however the kept one sits); never over a kept one. Unwrapped placements
 * come first: PVs written by earlier versions never held a wrapped record.
 * Null when it does not fit: the caller reports "full" before writing anything.
 */
export function placeRecord(mdaSize: number, keep: Slot[], length: number): number | null {
  const need = alignUp(length, BLOCK);
  if (need > ringSize(mdaSize)) return null;
  const kept = keep.flatMap((k) => blocksOf(mdaSize, k.offset, k.length));
  const fits = (o: number) => blocksOf(mdaSize, o, need).every(([a, b]) => kept.every(([c, d]) => b <= c || a >= d));
  const newest = keep.reduce<Slot | null>((n, k) => (!n || k.seqno > n.seqno ? k : n), null);
  const end = newest ? blocksOf(mdaSize, newest.offset, newest.length).at(-1)![1] : RING_OFFSET;
  const after = end >= mdaSize ? RING_OFFSET : end;
  for (const o of [after, RING_OFFSET]) if (o + need <= mdaSize && fits(o)) return o;
  return fits(after) ? after : null;
}

/**
 * Records are padded with zeros to whole blocks: no write straddles the next
 * record. A wrapping record is two writes, both before the fsync that makes
 * the header naming it durable.
 */
export function writeRecord(dev: Dev, mdaSize: number, offset: number, record: Buffer): void {
  const padded = Buffer.alloc(alignUp(record.length, BLOCK));
  record.copy(padded);
  let done = 0;
  for (const [o, l] of ringSpans(mdaSize, offset, padded.length)) {
    dev.write(MDA_OFFSET + o, padded.subarray(done, done + l));
    done += l;
  }
}

export function slotOf(e: Encoded, offset: number): Slot {
  return { offset, length: e.record.length, seqno: e.seqno, hash: e.hash };
}

/**
 * Write a new header into the copy that is NOT the newest valid one, so a torn
 * write can only ever destroy the older copy; the generation goes up by one.
 */
export function writeHeader(pv: PvRead, ident: { vgId: string; pvId: string; vgName: string; mdaSize: number }, committed: Slot | null, precommit: Slot | null): void {
  const cur = newest(pv.headers);
  const copy = cur ? 1 - cur.copy : 0;
  const generation = Math.max(0, ...pv.headers.map((h) => h?.generation ?? 0)) + 1;
  const h: Header = { copy, generation, ...ident, committed, precommit };
  pv.dev.write(MDA_OFFSET + copy * BLOCK, encodeHeader(h));
  pv.headers[copy] = h;
  pv.header = h;
}

export function writeLabel(dev: Dev, label: Label): void {
  dev.write(LABEL_OFFSET, encodeLabel(label));
}

/** Make a device no longer a PV: label and both header copies zeroed. */
export function wipePv(dev: Dev): void {
  dev.write(LABEL_OFFSET, Buffer.alloc(512));
  if (dev.size >= MDA_OFFSET + 2 * BLOCK) dev.write(MDA_OFFSET, Buffer.alloc(2 * BLOCK));
}

/**
 * A generation may take at most half the ring (LVM2 caps its metadata at half
 * the area too), so the next one of the same size or smaller always fits
 * beside it: a change that makes the record smaller is never refused. One no
 * larger than the current record is let through past half, as far as it
 * fits: PVs written by earlier versions may hold such a record.
 */
export function placeNext(mdaSize: number, committed: Slot | null, length: number): number | null {
  const need = alignUp(length, BLOCK);
  const shrinks = committed !== null && need <= alignUp(committed.length, BLOCK);
  if (need > maxRecord(mdaSize) && !shrinks) return null;
  return placeRecord(mdaSize, committed ? [committed] : [], length);
}
export const maxRecord = (mdaSize: number) => Math.floor(ringSize(mdaSize) / 2 / BLOCK) * BLOCK;

export function full(vgName: string, path: string, length: number, mdaSize: number, committed: Slot | null): Error {
  const need = alignUp(length, BLOCK);
  const ring = ringSize(mdaSize);
  const why = need > maxRecord(mdaSize) && !(committed && need <= alignUp(committed.length, BLOCK))
    ? `more than half the ring of ${ring} bytes, which must hold it and the next generation`
    : `the ring of ${ring} bytes must also keep the current one${committed ? ` (${alignUp(committed.length, BLOCK)} bytes)` : ''}`;
  return failed('metadata area full', path, `generation needs ${need} bytes, ${why} (VG '${vgName}', nothing written); a smaller generation is always accepted: remove LVs, or grow the area with 'tm grow-metadata ${vgName} --metadata-size SIZE' (the first extents of every PV must be free)`);
}
