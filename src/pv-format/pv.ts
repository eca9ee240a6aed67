// Reading one PV: label, both header copies, the committed record, and (on
// demand) a scan of the whole ring. Every failure becomes a one-line reason.
import { inflateRaw } from '../lib/raw-deflate.js';
import type { Dev } from './device.js';
import {
  BLOCK, Damage, LABEL_OFFSET, LABEL_SIZE, MDA_OFFSET, REC_HDR, RING_OFFSET,
  decodeHeader, decodeLabel, decodePayload, decodeRecordHead, hasRecordMagic, ringSize, ringSpans,
  type Header, type Label, type Slot,
} from './layout.js';

// The addon's zlib (src/lib/raw-deflate.ts), only once a compressed record is read.
export const inflate = (b: Buffer, max: number) => inflateRaw(b, Math.max(max, 1));

/** One generation as stored: its JSON bytes and where it sits. */
export interface Generation {
  seqno: number;
  hash: Buffer;
  prevHash: Buffer;
  json: Buffer;
  offset: number; // in the mda
  length: number; // record bytes
}

export interface PvRead {
  dev: Dev;
  label: Label | null;
  labelError: string | null;
  headers: (Header | null)[]; // [A, B]
  headerErrors: string[];
  header: Header | null; // the valid copy with the highest generation
  committed: Generation | null;
  recordError: string | null;
}

export const why = (e: unknown) => (e instanceof Damage || e instanceof Error ? e.message : String(e));

export function readLabel(dev: Dev): Label {
  if (dev.size < LABEL_OFFSET + LABEL_SIZE) throw new Damage(`device is too small (${dev.size} bytes) to hold a label`);
  return decodeLabel(dev.read(LABEL_OFFSET, LABEL_SIZE), dev.size);
}

/** `length` bytes of ring from mda offset `offset`, continuing at the ring start past the ring end. */
export function readRing(dev: Dev, mdaSize: number, offset: number, length: number): Buffer {
  const parts = ringSpans(mdaSize, offset, length).map(([o, l]) => dev.read(MDA_OFFSET + o, l));
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/**
 * Read the record at `offset` (in the mda) and check it belongs to `vgId`.
 * `expectLength` (a header slot's record length) lets header and payload come
 * in one read: on a loop device with a cold cache each read is a round trip.
 */
export function readRecord(dev: Dev, mdaSize: number, vgId: string, offset: number, expectLength?: number): Generation {
  if (offset < RING_OFFSET || offset + REC_HDR > mdaSize || MDA_OFFSET + mdaSize > dev.size) throw new Damage(`record offset ${offset} is outside the ring`);
  const whole = expectLength !== undefined && expectLength >= REC_HDR && expectLength <= ringSize(mdaSize) ? readRing(dev, mdaSize, offset, expectLength) : null;
  const head = decodeRecordHead(whole ? whole.subarray(0, REC_HDR) : dev.read(MDA_OFFSET + offset, REC_HDR), offset, mdaSize);
  if (head.vgId !== vgId) throw new Damage(`record at ${offset} belongs to VG id ${head.vgId}`);
  const payload = whole && whole.length === REC_HDR + head.storedLen ? whole.subarray(REC_HDR) : readRing(dev, mdaSize, offset, REC_HDR + head.storedLen).subarray(REC_HDR);
  const json = decodePayload(head, payload, offset, inflate);
  return { seqno: head.seqno, hash: head.hash, prevHash: head.prevHash, json, offset, length: REC_HDR + head.storedLen };
}

export function readSlot(dev: Dev, mdaSize: number, vgId: string, slot: Slot, what: string): Generation {
  const g = readRecord(dev, mdaSize, vgId, slot.offset, slot.length);
  if (g.seqno !== slot.seqno || !g.hash.equals(slot.hash) || g.length !== slot.length)
    throw new Damage(`${what} points at seqno ${slot.seqno} but the ring holds seqno ${g.seqno} there`);
  return g;
}

export function readPv(dev: Dev): PvRead {
  const pv: PvRead = { dev, label: null, labelError: null, headers: [null, null], headerErrors: [], header: null, committed: null, recordError: null };
  // label and both header copies are one contiguous range: one read
  let front: Buffer | null = null;
  try {
    if (dev.size >= MDA_OFFSET + 2 * BLOCK) front = dev.read(LABEL_OFFSET, MDA_OFFSET + 2 * BLOCK - LABEL_OFFSET);
  } catch {
    front = null; // read them one by one below, so each failure is reported where it happens
  }
  const at = (offset: number, length: number) => (front ? front.subarray(offset - LABEL_OFFSET, offset - LABEL_OFFSET + length) : dev.read(offset, length));
  try {
    pv.label = front ? decodeLabel(at(LABEL_OFFSET, LABEL_SIZE), dev.size) : readLabel(dev);
  } catch (e) {
    pv.labelError = why(e);
  }
  const expect = pv.label ? { vgId: pv.label.vgId, pvId: pv.label.pvId, mdaSize: pv.label.mdaSize } : null;
  if (dev.size >= MDA_OFFSET + 2 * BLOCK) {
    for (const copy of [0, 1]) {
      try {
        const h = decodeHeader(at(MDA_OFFSET + copy * BLOCK, BLOCK), copy, expect);
        if (MDA_OFFSET + h.mdaSize > dev.size) throw new Damage(`header ${'AB'[copy]} metadata area runs past the end of the device`);
        pv.headers[copy] = h;
      } catch (e) {
        pv.headerErrors.push(why(e));
      }
    }
  } else pv.headerErrors.push('device too small for metadata headers');
  const [a, b] = pv.headers;
  // Without a label, two copies that disagree on identity cannot both be trusted.
  // (The sizes may differ: a growth of the area interrupted between the copies.)
  if (!pv.label && a && b && (a.vgId !== b.vgId || a.pvId !== b.pvId)) {
    pv.headers = [null, null];
    pv.headerErrors.push('header copies disagree on identity');
  }
  pv.header = newest(pv.headers);
  if (pv.header?.committed) {
    try {
      pv.committed = readSlot(dev, pv.header.mdaSize, pv.header.vgId, pv.header.committed, 'committed slot');
    } catch (e) {
      pv.recordError = why(e);
    }
  }
  return pv;
}

export function newest(hs: (Header | null)[]): Header | null {
  let best: Header | null = null;
  for (const h of hs) if (h && (!best || h.generation > best.generation)) best = h;
  return best;
}

/** Every readable record of `vgId` in the ring, in ring order. Bounded by the mda size. */
export function scanRing(dev: Dev, mdaSize: number, vgId: string): Generation[] {
  const out: Generation[] = [];
  const CHUNK = 1024 * 1024;
  for (let base = RING_OFFSET; base < mdaSize; base += CHUNK) {
    const len = Math.min(CHUNK, mdaSize - base);
    if (MDA_OFFSET + base + len > dev.size) break;
    const chunk = dev.read(MDA_OFFSET + base, len);
    for (let o = 0; o + 8 <= len; o += BLOCK) {
      if (!hasRecordMagic(chunk.subarray(o, o + 8))) continue;
      try {
        out.push(readRecord(dev, mdaSize, vgId, base + o));
      } catch {
        // a torn or foreign record: not a generation we can use
      }
    }
  }
  return out;
}
