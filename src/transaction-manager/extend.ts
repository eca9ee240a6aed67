// Growing one PV's metadata area up to its data start (tm grow-metadata, and
// tm recover finishing one that was interrupted). Each step is made durable
// before the next; a header copy naming a smaller area than the label's is
// valid (FORMAT.md), so every crash point reads the same generation.
import { failed } from '../lib/errors.js';
import { BLOCK, MDA_OFFSET, alignUp, type Slot } from '../pv-format/layout.js';
import { readRing, type PvRead } from '../pv-format/pv.js';
import { writeHeader, writeLabel } from './write.js';

const CHUNK = 1024 * 1024;

/** Why the area of `pv` cannot grow from `from` to `to` bytes, or null: a wrapped record must fit unwrapped in the extension. */
export function extendProblem(pv: PvRead, from: number, to: number): string | null {
  const slot = pv.header?.committed;
  if (!slot) return 'has no committed generation';
  if (slot.offset + slot.length > from && alignUp(slot.length, BLOCK) > to - from)
    return `its current record (${slot.length} bytes) wraps round the ring end and must move into the ${to - from} bytes added: grow by at least its size`;
  return null;
}

/**
 * Grow the area of `pv` from `from` (what its headers name) to `to` bytes
 * (its data start less 4 KiB). 1: the extension zeroed, holding an unwrapped
 * copy of the committed record if it wraps (a wrapped record reads differently
 * in a larger ring); fsync. 2: the label; fsync. 3, 4: each header copy, the
 * older first; fsync each. Until 3 the old headers name the old slot, intact.
 */
export function extendArea(pv: PvRead, vgName: string, from: number, to: number): string {
  const why = extendProblem(pv, from, to);
  if (why) throw failed('PV', pv.dev.path, `${why} (nothing written)`);
  const h = pv.header!;
  let slot: Slot = h.committed!;
  const copy = slot.offset + slot.length > from ? readRing(pv.dev, from, slot.offset, slot.length) : null;
  let at = from;
  if (copy) {
    const padded = Buffer.alloc(alignUp(copy.length, BLOCK));
    copy.copy(padded);
    pv.dev.write(MDA_OFFSET + at, padded);
    at += padded.length;
  }
  for (; at < to; at += CHUNK) pv.dev.write(MDA_OFFSET + at, Buffer.alloc(Math.min(CHUNK, to - at)));
  if (copy) slot = { ...slot, offset: from };
  pv.dev.sync();
  const label = { ...pv.label!, mdaSize: to, dataOffset: MDA_OFFSET + to };
  writeLabel(pv.dev, label);
  pv.dev.sync();
  pv.label = label;
  const ident = { vgId: h.vgId, pvId: h.pvId, vgName, mdaSize: to };
  for (let i = 0; i < 2; i++) {
    writeHeader(pv, ident, slot, null);
    pv.dev.sync();
  }
  return `${pv.dev.path}: metadata area grown from ${from} to ${to} bytes${copy ? ` (the current record moved to ${from}, unwrapped)` : ''}`;
}
