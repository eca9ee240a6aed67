// struct dm_ioctl and friends (include/uapi/linux/dm-ioctl.h), packed and
// unpacked here so the native side stays a raw ioctl loop and the layout is
// unit-tested without root. All fields are little-endian on x86_64.
import type { TableLine } from '../lib/dm-table.js';
import type { Sectors } from '../lib/units.js';

export const HEADER_SIZE = 312;
export const NAME_LEN = 128;
export const UUID_LEN = 129;
const OFF = { version: 0, dataSize: 12, dataStart: 16, targetCount: 20, openCount: 24, flags: 28, eventNr: 32, dev: 40, name: 48, uuid: 176 } as const;
const SPEC_SIZE = 40;

export const CMD = {
  VERSION: 0,
  REMOVE_ALL: 1,
  LIST_DEVICES: 2,
  DEV_CREATE: 3,
  DEV_REMOVE: 4,
  DEV_RENAME: 5,
  DEV_SUSPEND: 6,
  DEV_STATUS: 7,
  DEV_WAIT: 8,
  TABLE_LOAD: 9,
  TABLE_CLEAR: 10,
  TABLE_DEPS: 11,
  TABLE_STATUS: 12,
  LIST_VERSIONS: 13,
  TARGET_MSG: 14,
} as const;

export const FLAG = {
  READONLY: 1 << 0,
  SUSPEND: 1 << 1,
  PERSISTENT_DEV: 1 << 3,
  STATUS_TABLE: 1 << 4,
  ACTIVE_PRESENT: 1 << 5,
  INACTIVE_PRESENT: 1 << 6,
  BUFFER_FULL: 1 << 8,
  SKIP_LOCKFS: 1 << 10,
  NOFLUSH: 1 << 11,
  QUERY_INACTIVE_TABLE: 1 << 12,
  UEVENT_GENERATED: 1 << 13,
  UUID: 1 << 14,
  DATA_OUT: 1 << 16,
  DEFERRED_REMOVE: 1 << 17,
} as const;

/** The ioctl request number the native side issues: _IOWR(0xfd, nr, struct dm_ioctl). */
export const ioctlRequest = (nr: number): number => (0xc138fd00 | nr) >>> 0;

export interface HeaderIn {
  version?: [number, number, number];
  name?: string;
  uuid?: string;
  flags?: number;
  targetCount?: number;
  dev?: bigint;
}

export interface Header {
  version: [number, number, number];
  dataSize: number;
  dataStart: number;
  targetCount: number;
  openCount: number;
  flags: number;
  eventNr: number;
  dev: bigint;
  name: string;
  uuid: string;
}

function putString(buf: Buffer, off: number, max: number, s: string, what: string): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length >= max) throw new RangeError(`${what} longer than ${max - 1} bytes`);
  b.copy(buf, off);
}

function getString(buf: Buffer, off: number, max: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end < 0 || end > off + max ? off + max : end);
}

/** A zeroed buffer of `size` bytes (at least the header) with the header filled in. */
export function packHeader(h: HeaderIn, size = HEADER_SIZE): Buffer {
  const total = Math.max(size, HEADER_SIZE);
  const buf = Buffer.alloc(total);
  const [a, b, c] = h.version ?? [4, 0, 0];
  buf.writeUInt32LE(a, OFF.version);
  buf.writeUInt32LE(b, OFF.version + 4);
  buf.writeUInt32LE(c, OFF.version + 8);
  buf.writeUInt32LE(total, OFF.dataSize);
  buf.writeUInt32LE(HEADER_SIZE, OFF.dataStart);
  buf.writeUInt32LE(h.targetCount ?? 0, OFF.targetCount);
  buf.writeUInt32LE(h.flags ?? 0, OFF.flags);
  buf.writeBigUInt64LE(h.dev ?? 0n, OFF.dev);
  if (h.name) putString(buf, OFF.name, NAME_LEN, h.name, 'dm name');
  if (h.uuid) putString(buf, OFF.uuid, UUID_LEN, h.uuid, 'dm uuid');
  return buf;
}

export function readHeader(buf: Buffer): Header {
  return {
    version: [buf.readUInt32LE(0), buf.readUInt32LE(4), buf.readUInt32LE(8)],
    dataSize: buf.readUInt32LE(OFF.dataSize),
    dataStart: buf.readUInt32LE(OFF.dataStart),
    targetCount: buf.readUInt32LE(OFF.targetCount),
    openCount: buf.readInt32LE(OFF.openCount),
    flags: buf.readUInt32LE(OFF.flags),
    eventNr: buf.readUInt32LE(OFF.eventNr),
    dev: buf.readBigUInt64LE(OFF.dev),
    name: getString(buf, OFF.name, NAME_LEN),
    uuid: getString(buf, OFF.uuid, UUID_LEN),
  };
}

/** huge_encode_dev, as glibc makedev: minor low 8 bits | major << 8 | (minor & ~0xff) << 12. */
export function encodeDev(major: number, minor: number): bigint {
  return BigInt((minor & 0xff) | ((major & 0xfff) << 8)) | (BigInt(minor & ~0xff) << 12n) | (BigInt(major & ~0xfff) << 32n);
}

export function decodeDev(dev: bigint): { major: number; minor: number } {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return { major, minor };
}

const align8 = (n: number) => (n + 7) & ~7;

/** Where in a load buffer each line's params begin: for late `dm:` patching. */
export interface PackedLoad {
  buf: Buffer;
  paramsOffsets: number[];
}

/**
 * TABLE_LOAD: header, then per line a 40-byte dm_target_spec followed by its
 * NUL-terminated params padded to 8; `next` is relative to this spec.
 */
export function packLoad(name: string, lines: readonly TableLine[], readOnly = false): PackedLoad {
  const params = lines.map((l) => Buffer.from(l.params, 'utf8'));
  const sizes = params.map((p) => SPEC_SIZE + align8(p.length + 1));
  const total = HEADER_SIZE + sizes.reduce((a, b) => a + b, 0);
  const buf = packHeader({ name, targetCount: lines.length, flags: readOnly ? FLAG.READONLY : 0 }, total);
  const paramsOffsets: number[] = [];
  let off = HEADER_SIZE;
  lines.forEach((l, i) => {
    if (Buffer.byteLength(l.target) >= 16) throw new RangeError(`target type '${l.target}' too long`);
    buf.writeBigUInt64LE(BigInt(l.start), off);
    buf.writeBigUInt64LE(BigInt(l.length), off + 8);
    buf.writeInt32LE(0, off + 16);
    buf.writeUInt32LE(sizes[i], off + 20);
    buf.write(l.target, off + 24, 'utf8');
    params[i].copy(buf, off + SPEC_SIZE);
    paramsOffsets.push(off + SPEC_SIZE);
    off += sizes[i];
  });
  return { buf, paramsOffsets };
}

/** RENAME: old name in the header, the new name as a string at data_start. */
export function packRename(name: string, newName: string): Buffer {
  const n = Buffer.from(newName, 'utf8');
  const buf = packHeader({ name }, HEADER_SIZE + align8(n.length + 1));
  n.copy(buf, HEADER_SIZE);
  return buf;
}

/** TARGET_MSG: dm_target_msg { u64 sector; char message[] }, with room for a reply. */
export function packMessage(name: string, sector: number, message: string, replyRoom = 16384): Buffer {
  const m = Buffer.from(message, 'utf8');
  const buf = packHeader({ name, version: [4, 2, 0] }, HEADER_SIZE + align8(8 + m.length + 1) + replyRoom);
  buf.writeBigUInt64LE(BigInt(sector), HEADER_SIZE);
  m.copy(buf, HEADER_SIZE + 8);
  return buf;
}

/** Table lines from TABLE_STATUS output; spec `next` is relative to data_start here. */
export function parseSpecs(buf: Buffer): TableLine[] {
  const h = readHeader(buf);
  const lines: TableLine[] = [];
  let off = h.dataStart;
  for (let i = 0; i < h.targetCount; i++) {
    if (off + SPEC_SIZE > h.dataSize) throw new RangeError('target spec beyond the returned data');
    const start = Number(buf.readBigUInt64LE(off));
    const length = Number(buf.readBigUInt64LE(off + 8));
    const next = buf.readUInt32LE(off + 20);
    const target = getString(buf, off + 24, 16);
    const params = getString(buf, off + SPEC_SIZE, h.dataSize - off - SPEC_SIZE);
    lines.push({ start: start as Sectors, length: length as Sectors, target, params });
    off = h.dataStart + next;
  }
  return lines;
}

export interface NameEntry {
  name: string;
  dev: bigint;
}

/** LIST_DEVICES output: dm_name_list entries; `next` relative to each entry, name at 12. */
export function parseNameList(buf: Buffer): NameEntry[] {
  const h = readHeader(buf);
  const out: NameEntry[] = [];
  let off = h.dataStart;
  if (h.dataSize - off < 12 || buf.readBigUInt64LE(off) === 0n) return out;
  for (;;) {
    const dev = buf.readBigUInt64LE(off);
    const next = buf.readUInt32LE(off + 8);
    out.push({ dev, name: getString(buf, off + 12, Math.min(NAME_LEN, h.dataSize - off - 12)) });
    if (next === 0) break;
    off += next;
    if (off + 12 > h.dataSize) throw new RangeError('name list entry beyond the returned data');
  }
  return out;
}

/** TABLE_DEPS output: u32 count, u32 pad, u64 dev[count]. */
export function parseDeps(buf: Buffer): bigint[] {
  const h = readHeader(buf);
  const count = buf.readUInt32LE(h.dataStart);
  const devs: bigint[] = [];
  for (let i = 0; i < count; i++) devs.push(buf.readBigUInt64LE(h.dataStart + 8 + 8 * i));
  return devs;
}

/** The reply string of a TARGET_MSG, when the kernel set DATA_OUT. */
export function parseMessageReply(buf: Buffer): string | null {
  const h = readHeader(buf);
  if (!(h.flags & FLAG.DATA_OUT)) return null;
  return getString(buf, h.dataStart, h.dataSize - h.dataStart);
}
