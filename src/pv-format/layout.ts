// Byte layout of a dvm PV (see FORMAT.md). Pure encode/decode with every
// field bounds-checked before it is used: nothing here trusts the disk.
import { crc32 } from './crc32.js';
import { sha256 } from '../lib/sha256.js';

export const SECTOR = 512;
export const BLOCK = 4096; // every metadata write is whole, aligned 4 KiB blocks
export const LABEL_OFFSET = 512;
export const LABEL_SIZE = 512;
export const MDA_OFFSET = BLOCK;
export const HEADER_COPIES = 2; // A at mda+0, B at mda+4096
export const RING_OFFSET = HEADER_COPIES * BLOCK; // ring starts 8 KiB into the mda
export const REC_HDR = 256;
export const DATA_ALIGN = 1024 * 1024;
export const MAX_JSON = 64 * 1024 * 1024; // a sanity cap: no allocation larger than this
export const MIN_MDA = RING_OFFSET + 4 * BLOCK;
export const MAX_MDA = 1024 * 1024 * 1024; // a label claiming more is crafted or corrupt
const ZERO_HASH = Buffer.alloc(32);

const LABEL_MAGIC = 'DVMLABEL';
const HEADER_MAGIC = 'DVMHEADR';
const RECORD_MAGIC = 'DVMRECRD';
export const FLAG_DEFLATE = 1;

/** A damaged or implausible structure; `message` is the one-line diagnosis. */
export class Damage extends Error {}

export const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** Bytes of ring in an mda of `mdaSize` bytes: everything after the two header copies. */
export const ringSize = (mdaSize: number) => mdaSize - RING_OFFSET;

/**
 * The byte ranges (mda offsets) that `length` bytes from ring offset `offset`
 * occupy: one, or two when they run past the ring end and continue at the
 * ring start (records wrap, as LVM2's do). `length` must not exceed the ring.
 */
export function ringSpans(mdaSize: number, offset: number, length: number): [number, number][] {
  const first = Math.min(length, mdaSize - offset);
  return first === length ? [[offset, length]] : [[offset, first], [RING_OFFSET, length - first]];
}
export { sha256 };

function u64(b: Buffer, off: number, field: string): number {
  const v = b.readBigUInt64LE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Damage(`${field} ${v} is out of range`);
  return Number(v);
}
const putU64 = (b: Buffer, off: number, v: number) => b.writeBigUInt64LE(BigInt(v), off);
const ascii = (b: Buffer, off: number, len: number) => b.subarray(off, off + len).toString('latin1');
const ID_RE = /^[0-9A-Za-z]{32}$/;

function checkCrc(b: Buffer, size: number, what: string): void {
  const stored = b.readUInt32LE(size - 4);
  if (crc32(b, 0, size - 4) !== stored) throw new Damage(`${what} checksum mismatch`);
}
function sealCrc(b: Buffer, size: number): void {
  b.writeUInt32LE(crc32(b, 0, size - 4), size - 4);
}
function readId(b: Buffer, off: number, field: string): string {
  const s = ascii(b, off, 32);
  if (!ID_RE.test(s)) throw new Damage(`${field} is not a valid id`);
  return s;
}

// ---- label -----------------------------------------------------------------

export interface Label {
  pvId: string;
  vgId: string;
  deviceSize: number; // bytes, when the label was written
  mdaOffset: number; // bytes
  mdaSize: number; // bytes
  dataOffset: number; // bytes
}

export function encodeLabel(l: Label): Buffer {
  const b = Buffer.alloc(LABEL_SIZE);
  b.write(LABEL_MAGIC, 0, 'latin1');
  b.writeUInt32LE(1, 8);
  b.writeUInt32LE(LABEL_SIZE, 12);
  b.write(l.pvId, 16, 'latin1');
  b.write(l.vgId, 48, 'latin1');
  putU64(b, 80, l.deviceSize);
  putU64(b, 88, l.mdaOffset);
  putU64(b, 96, l.mdaSize);
  putU64(b, 104, l.dataOffset);
  sealCrc(b, LABEL_SIZE);
  return b;
}

export const hasLabelMagic = (b: Buffer) => b.length >= 8 && ascii(b, 0, 8) === LABEL_MAGIC;

/** Decode a label and check it against the real device size. */
export function decodeLabel(b: Buffer, devSize: number): Label {
  if (b.length < LABEL_SIZE || !hasLabelMagic(b)) throw new Damage('no dvm label');
  checkCrc(b, LABEL_SIZE, 'label');
  if (b.readUInt32LE(8) !== 1) throw new Damage(`label version ${b.readUInt32LE(8)} is not supported`);
  const l: Label = {
    pvId: readId(b, 16, 'label PV id'),
    vgId: readId(b, 48, 'label VG id'),
    deviceSize: u64(b, 80, 'label device size'),
    mdaOffset: u64(b, 88, 'label metadata offset'),
    mdaSize: u64(b, 96, 'label metadata size'),
    dataOffset: u64(b, 104, 'label data offset'),
  };
  if (l.mdaOffset !== MDA_OFFSET) throw new Damage(`label metadata offset ${l.mdaOffset} is not ${MDA_OFFSET}`);
  if (l.mdaSize < MIN_MDA || l.mdaSize > MAX_MDA || l.mdaSize % BLOCK) throw new Damage(`label metadata size ${l.mdaSize} is invalid`);
  if (l.dataOffset % BLOCK || l.dataOffset < l.mdaOffset + l.mdaSize) throw new Damage(`label data offset ${l.dataOffset} overlaps the metadata area`);
  if (l.dataOffset > devSize) throw new Damage(`label data offset ${l.dataOffset} is past the end of the device (${devSize} bytes)`);
  return l;
}

// ---- header ----------------------------------------------------------------

/** Where one generation's record sits in the ring (offset from the mda start). */
export interface Slot {
  offset: number;
  length: number; // record bytes, header included
  seqno: number;
  hash: Buffer; // sha256 of the canonical JSON
}

export interface Header {
  copy: number; // 0 = A, 1 = B
  generation: number;
  vgId: string;
  pvId: string; // lets a PV whose label was destroyed be identified and relabelled
  vgName: string;
  mdaSize: number;
  committed: Slot | null; // null only on a PV that is joining the VG (tm add) and not yet committed
  precommit: Slot | null;
}

function putSlot(b: Buffer, off: number, s: Slot | null): void {
  if (!s) return;
  putU64(b, off, s.offset);
  putU64(b, off + 8, s.length);
  putU64(b, off + 16, s.seqno);
  s.hash.copy(b, off + 24, 0, 32);
}

function getSlot(b: Buffer, off: number, mdaSize: number, what: string): Slot | null {
  if (b.subarray(off, off + 56).every((x) => x === 0)) return null;
  const s: Slot = { offset: u64(b, off, `${what} offset`), length: u64(b, off + 8, `${what} length`), seqno: u64(b, off + 16, `${what} seqno`), hash: Buffer.from(b.subarray(off + 24, off + 56)) };
  checkSlot(s, mdaSize, what);
  return s;
}

export function checkSlot(s: Slot, mdaSize: number, what: string): void {
  if (s.offset < RING_OFFSET || s.offset % BLOCK) throw new Damage(`${what} offset ${s.offset} is not a ring block`);
  if (s.offset + REC_HDR > mdaSize) throw new Damage(`${what} offset ${s.offset} is past the ring end`);
  // a record may wrap to the ring start, so it is bounded by the ring, not by its offset
  if (s.length < REC_HDR || s.length > ringSize(mdaSize)) throw new Damage(`${what} length ${s.length} is larger than the ring`);
  if (s.seqno < 1) throw new Damage(`${what} seqno 0`);
}

export function encodeHeader(h: Header): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(HEADER_MAGIC, 0, 'latin1');
  b.writeUInt32LE(1, 8);
  b.writeUInt32LE(h.copy, 12);
  putU64(b, 16, h.generation);
  b.write(h.vgId, 24, 'latin1');
  putU64(b, 56, h.mdaSize);
  putSlot(b, 64, h.committed);
  putSlot(b, 120, h.precommit);
  const name = Buffer.from(h.vgName, 'utf8');
  if (name.length > 127) throw new Error('VG name too long for header');
  b.writeUInt8(name.length, 176);
  name.copy(b, 177);
  b.write(h.pvId, 304, 'latin1');
  sealCrc(b, SECTOR);
  return b;
}

/** `expect` comes from the label; without one (label lost) the header stands alone. */
export function decodeHeader(b: Buffer, copy: number, expect: { vgId: string; pvId: string; mdaSize: number } | null): Header {
  if (b.length < SECTOR || ascii(b, 0, 8) !== HEADER_MAGIC) throw new Damage(`header ${'AB'[copy]} has no magic`);
  checkCrc(b, SECTOR, `header ${'AB'[copy]}`);
  const what = `header ${'AB'[copy]}`;
  if (b.readUInt32LE(8) !== 1) throw new Damage(`${what} version ${b.readUInt32LE(8)} is not supported`);
  if (b.readUInt32LE(12) !== copy) throw new Damage(`${what} is a copy of header ${b.readUInt32LE(12)} in the wrong place`);
  const mdaSize = u64(b, 56, `${what} metadata size`);
  if (mdaSize < MIN_MDA || mdaSize > MAX_MDA || mdaSize % BLOCK) throw new Damage(`${what} metadata size ${mdaSize} is invalid`);
  const vgId = readId(b, 24, `${what} VG id`);
  const pvId = readId(b, 304, `${what} PV id`);
  if (expect) {
    // smaller is an area whose growth (tm grow-metadata) has not reached this copy yet: its slots are in its own size
    if (mdaSize > expect.mdaSize) throw new Damage(`${what} metadata size ${mdaSize} is larger than the label's ${expect.mdaSize}`);
    if (vgId !== expect.vgId) throw new Damage(`${what} belongs to VG id ${vgId}, the label says ${expect.vgId}`);
    if (pvId !== expect.pvId) throw new Damage(`${what} is for PV id ${pvId}, the label says ${expect.pvId}`);
  }
  const nameLen = b.readUInt8(176);
  if (nameLen < 1 || nameLen > 127) throw new Damage(`${what} VG name length ${nameLen} is invalid`);
  const committed = getSlot(b, 64, mdaSize, `${what} committed slot`);
  const precommit = getSlot(b, 120, mdaSize, `${what} precommit slot`);
  if (!committed && !precommit) throw new Damage(`${what} has neither a committed nor a precommitted generation`);
  return { copy, generation: u64(b, 16, `${what} generation`), vgId, pvId, vgName: b.subarray(177, 177 + nameLen).toString('utf8'), mdaSize, committed, precommit };
}

// ---- ring records ------------------------------------------------------------

export interface RecordHead {
  flags: number;
  vgId: string;
  seqno: number;
  storedLen: number;
  rawLen: number;
  hash: Buffer;
  prevHash: Buffer;
}

export const hasRecordMagic = (b: Buffer) => ascii(b, 0, 8) === RECORD_MAGIC;

/**
 * A record of at most this many bytes is stored raw: two blocks at most, one
 * more than deflating could save in a ring of thousands, and the reader and
 * writer of a small VG never load zlib (~2 ms of a start, with the stream
 * machinery it pulls in).
 */
export const RAW_RECORD_MAX = 2 * BLOCK;

/** Build a ring record for one generation: raw when small (RAW_RECORD_MAX), else compressed when that is smaller. */
export function encodeRecord(vgId: string, seqno: number, json: Buffer, prevHash: Buffer | null, deflate: (b: Buffer) => Buffer): { record: Buffer; hash: Buffer } {
  if (json.length > MAX_JSON) throw new Error(`metadata of ${json.length} bytes is over the ${MAX_JSON} byte limit`);
  const packed = REC_HDR + json.length <= RAW_RECORD_MAX ? json : deflate(json);
  const useDeflate = packed.length < json.length;
  const payload = useDeflate ? packed : json;
  const hash = sha256(json);
  const h = Buffer.alloc(REC_HDR);
  h.write(RECORD_MAGIC, 0, 'latin1');
  h.writeUInt32LE(1, 8);
  h.writeUInt32LE(useDeflate ? FLAG_DEFLATE : 0, 12);
  h.write(vgId, 16, 'latin1');
  putU64(h, 48, seqno);
  putU64(h, 56, payload.length);
  putU64(h, 64, json.length);
  hash.copy(h, 72);
  (prevHash ?? ZERO_HASH).copy(h, 104);
  sealCrc(h, REC_HDR);
  return { record: Buffer.concat([h, payload]), hash };
}

/** Decode a record header found at `offset` in an mda of `mdaSize` bytes. */
export function decodeRecordHead(b: Buffer, offset: number, mdaSize: number): RecordHead {
  if (b.length < REC_HDR || !hasRecordMagic(b)) throw new Damage(`no record at ring offset ${offset}`);
  checkCrc(b, REC_HDR, `record header at ring offset ${offset}`);
  if (b.readUInt32LE(8) !== 1) throw new Damage(`record at ${offset} has version ${b.readUInt32LE(8)}`);
  const flags = b.readUInt32LE(12);
  if (flags & ~FLAG_DEFLATE) throw new Damage(`record at ${offset} has unknown flags ${flags}`);
  const r: RecordHead = {
    flags,
    vgId: readId(b, 16, 'record VG id'),
    seqno: u64(b, 48, 'record seqno'),
    storedLen: u64(b, 56, 'record length'),
    rawLen: u64(b, 64, 'record raw length'),
    hash: Buffer.from(b.subarray(72, 104)),
    prevHash: Buffer.from(b.subarray(104, 136)),
  };
  if (r.storedLen > ringSize(mdaSize) - REC_HDR) throw new Damage(`record at ${offset} length ${r.storedLen} is larger than the ring`);
  if (r.rawLen > MAX_JSON || r.rawLen < 2) throw new Damage(`record at ${offset} raw length ${r.rawLen} is implausible`);
  if (!(flags & FLAG_DEFLATE) && r.rawLen !== r.storedLen) throw new Damage(`record at ${offset} lengths disagree`);
  if (r.seqno < 1) throw new Damage(`record at ${offset} has seqno 0`);
  return r;
}

/** The JSON bytes of a record, checked against its SHA-256. */
export function decodePayload(r: RecordHead, payload: Buffer, offset: number, inflate: (b: Buffer, max: number) => Buffer): Buffer {
  let json: Buffer;
  if (r.flags & FLAG_DEFLATE) {
    try {
      json = inflate(payload, r.rawLen);
    } catch {
      throw new Damage(`record seqno ${r.seqno} at ${offset} does not decompress`);
    }
  } else json = payload;
  if (json.length !== r.rawLen || !sha256(json).equals(r.hash)) throw new Damage(`record seqno ${r.seqno} at ${offset} checksum mismatch`);
  return json;
}

export const isZeroHash = (h: Buffer) => h.equals(ZERO_HASH);
export { ZERO_HASH };
