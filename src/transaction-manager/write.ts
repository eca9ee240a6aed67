// The write side: placing records in a ring, writing headers alternately
// into copy A and B, and labels. Callers fsync (dev.sync) between steps.
import { builtin } from '../lib/builtins.js';
import { failed } from '../lib/errors.js';
import type { Dev } from '../pv-format/device.js';
import {
  BLOCK, LABEL_OFFSET, MDA_OFFSET, RING_OFFSET, alignUp, encodeHeader, encodeLabel, encodeRecord,
  type Header, type Label, type Slot,
} from '../pv-format/layout.js';
import { newest, type Generation, type PvRead } from '../pv-format/pv.js';

const zlib = builtin<typeof import('node:zlib')>('zlib');
export const deflate = (b: Buffer) => zlib().deflateRawSync(b, { level: 6 });

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

/**
 * Where the next record goes in this PV's ring: right after the records that
 * must survive (`keep`), wrapping to the ring start; never over a kept one.
 * Null when it does not fit: the caller reports "full" before writing anything.
 */
export function placeRecord(mdaSize: number, keep: Slot[], length: number): number | null {
  const need = alignUp(length, BLOCK);
  if (need > mdaSize - RING_OFFSET) return null;
  const overlaps = (o: number) => keep.some((k) => o < alignUp(k.offset + k.length, BLOCK) && o + need > k.offset);
  const after = keep.length ? Math.max(...keep.map((k) => alignUp(k.offset + k.length, BLOCK))) : RING_OFFSET;
  for (const o of [after, RING_OFFSET]) if (o + need <= mdaSize && !overlaps(o)) return o;
  return null;
}

/** Records are padded with zeros to whole blocks: no write straddles the next record. */
export function writeRecord(dev: Dev, offset: number, record: Buffer): void {
  const padded = Buffer.alloc(alignUp(record.length, BLOCK));
  record.copy(padded);
  dev.write(MDA_OFFSET + offset, padded);
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

export function full(vgName: string, path: string, need: number, mdaSize: number): Error {
  return failed('metadata area full', path, `generation needs ${need} bytes; the ring of ${mdaSize - RING_OFFSET} bytes must also keep the current one (VG '${vgName}', nothing written)`);
}
