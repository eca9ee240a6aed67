// tm's operations as pure-ish cores over `Dev`s (no locking, no process
// spawning: those are passed in or done by the CLI). docs/commit-protocol.md.
import { failed, invalidInput } from '../lib/errors.js';
import { canonicalJson, canonicalJsonWithLast, isCanonicalText } from '../lib/canonical-json.js';
import { validate } from '../lib/schema.js';
import { isPowerOfTwo } from '../lib/units.js';
import { checkVg } from '../lib/vg-check.js';
import { newId } from './ids.js';
import type { Envelope, Origin, Vg } from '../lib/vg-types.js';
import { dropOrMarkMissing, removePvs, unmarkMissing } from './pvs.js';
import { MAX_DEVICE_BYTES, type Dev } from '../pv-format/device.js';
import { DATA_ALIGN, MAX_JSON, MDA_OFFSET, RING_OFFSET, alignUp, type Label, type Slot } from '../pv-format/layout.js';
import { readPv, readSlot, scanRing, why, type Generation, type PvRead } from '../pv-format/pv.js';
import { envelope, growing, loadVg, mdaSizeOf, parseVg, pastEnd, pvIdOf, requireHead, shrinkProblems, vgIdOf, walkChain, type VgState } from './state.js';
import { encodeGeneration, full, placeNext, placeRecord, reencode, slotOf, wipePv, writeHeader, writeLabel, writeRecord, type Encoded } from './write.js';
import { headCached, probeSignature } from './probe.js';
import { extendArea, extendProblem } from './extend.js';
import { cowHeaderWrites, newSnapshots } from './cow.js';

export type Phase = 'prepare' | 'commit' | 'abort';
/** The 2PC participant (`--sync CMD`); throws when the phase failed. `envJson`, when given, is canonicalJson(env). */
export type Participant = (phase: Phase, env: Envelope, envJson?: Buffer) => Promise<void>;
export type Mutator = (vg: Vg) => Promise<unknown>;

export const DEFAULT_EXTENT = 8192; // sectors: 4 MiB, as LVM
export const DEFAULT_MDA = 8 * 1024 * 1024; // bytes (data then starts at 9 MiB); src/pv-format/FORMAT.md has the 10,000-LV sizing

const syncAll = (pvs: PvRead[]) => pvs.forEach((p) => p.dev.sync());

/** A device beyond what dvm's byte arithmetic handles is refused by name (exit 1), not as invalid input. */
function tooLarge(d: Dev): void {
  if (d.size > MAX_DEVICE_BYTES) throw failed('device', d.path, `is ${d.size} bytes; dvm handles devices up to ${MAX_DEVICE_BYTES} bytes (8 PiB)`);
}
const ident = (st: { vgId: string }, pv: PvRead, vgName: string) => ({ vgId: st.vgId, pvId: pvIdOf(pv)!, vgName, mdaSize: mdaSizeOf(pv) });

// ---- init ----------------------------------------------------------------------

export interface InitOptions {
  extentSize?: number; // sectors
  metadataSize?: number; // bytes
  force?: boolean;
  description?: string;
  /** when, where, which command: recorded in the generation (origin.ts) */
  origin?: Origin;
}

export function init(vgName: string, devs: Dev[], o: InitOptions = {}): Envelope {
  const extent = o.extentSize ?? DEFAULT_EXTENT;
  if (extent < 8 || !isPowerOfTwo(extent)) throw failed('invalid extent size', extent, 'must be a power of two of at least 8 sectors (4 KiB)');
  const dataOffset = alignUp(MDA_OFFSET + (o.metadataSize ?? DEFAULT_MDA), DATA_ALIGN);
  const mdaSize = dataOffset - MDA_OFFSET; // the alignment gap is metadata too
  if (!o.force) for (const d of devs) {
    const sig = probeSignature(d);
    if (sig) throw failed('device', d.path, `already holds a ${sig}; use --force to overwrite it`);
  }
  for (const d of devs) tooLarge(d);
  const vgId = newId();
  const pvs = devs.map((d) => {
    const peCount = Math.floor((d.size - dataOffset) / (extent * 512));
    if (peCount < 1) throw failed('device', d.path, `too small: ${d.size} bytes cannot hold ${dataOffset} bytes of label and metadata plus one ${extent * 512} byte extent`);
    return { id: newId(), size: Math.floor(d.size / 512), pe_start: dataOffset / 512, pe_count: peCount, flags: ['allocatable' as const] };
  });
  const vg: Vg = { format: 'dvm.vg/1', name: vgName, id: vgId, seqno: 1, extent_size: extent, description: o.description ?? `tm init ${vgName}`, ...(o.origin ? { origin: o.origin } : {}), pvs, lvs: [] };
  validate('dvm.vg/1', vg, 'new VG');
  const enc = encodeGeneration(vgId, 1, Buffer.from(canonicalJson(vg)), null);
  devs.forEach((d, i) => {
    if (placeNext(mdaSize, null, enc.record.length) === null) throw full(vgName, d.path, enc.record.length, mdaSize, null);
    const pv: PvRead = { dev: d, label: null, labelError: null, headers: [null, null], headerErrors: [], header: null, committed: null, recordError: null };
    writeRecord(d, mdaSize, RING_OFFSET, enc.record);
    const id = { vgId, pvId: pvs[i].id, vgName, mdaSize };
    writeHeader(pv, id, slotOf(enc, RING_OFFSET), null); // copy A
    writeHeader(pv, id, slotOf(enc, RING_OFFSET), null); // copy B
    d.sync();
    // The label goes last: a crash before it leaves a device that is not a PV.
    writeLabel(d, { pvId: pvs[i].id, vgId, deviceSize: d.size, mdaOffset: MDA_OFFSET, mdaSize, dataOffset });
    d.sync();
  });
  const devices = Object.fromEntries(devs.map((d, i) => [pvs[i].id, d.path]));
  return { format: 'dvm.envelope/1', vg, devices, missing: [] };
}

// ---- read / verify / history -------------------------------------------------------

export function read(vgName: string, devs: Dev[], seqno?: number): { env: Envelope; st: VgState; json: Buffer } {
  const st = loadVg(vgName, devs);
  const head = requireHead(st);
  if (seqno === undefined || seqno === head.seqno) return { env: envelope(st, head), st, json: canonicalBytes(head, st.head!) };
  if (seqno > head.seqno) throw failed('generation', seqno, `VG '${vgName}' is at generation ${head.seqno}`);
  const g = committedLineage(st).find((x) => x.seqno === seqno);
  if (!g) throw failed('generation', seqno, `no longer in any metadata ring of VG '${vgName}' (see 'tm history')`);
  const vg = parseVg(g, vgName);
  return { env: envelope(st, vg), st, json: canonicalBytes(vg, g) };
}

/**
 * canonicalJson(vg) for a document parsed from generation `g`: the stored
 * bytes themselves when they are exactly that (always, for records tm wrote),
 * which spares serializing 2 MB again at 10,000 LVs.
 */
function canonicalBytes(vg: Vg, g: Generation): Buffer {
  return isCanonicalText(vg, g.json.toString('utf8')) ? g.json : Buffer.from(canonicalJson(vg));
}

/** Issues that make a VG unhealthy (verify exits 1 on any). */
export function verify(vgName: string, devs: Dev[]): { st: VgState; problems: string[] } {
  const st = loadVg(vgName, devs);
  const problems: string[] = [];
  if (!st.doc) problems.push(st.headLost!);
  for (const i of st.issues) problems.push(`${i.path}: ${i.text}`);
  for (const id of st.missing) problems.push(`PV ${id} is missing`);
  if (st.doc) problems.push(...shrinkProblems(st));
  return { st, problems };
}

/** The committed generations still in some ring, newest first, by hash chain. */
export function committedLineage(st: VgState): Generation[] {
  const all: Generation[] = [];
  for (const pv of st.members.size ? st.members.values() : st.pvs) if (vgIdOf(pv) === st.vgId) all.push(...scanRing(pv.dev, mdaSizeOf(pv), st.vgId));
  return walkChain(all, st.head);
}

export function history(vgName: string, devs: Dev[]) {
  const st = loadVg(vgName, devs);
  requireHead(st);
  const generations = committedLineage(st).map((g) => {
    let vg: Partial<Vg> = {};
    try {
      vg = JSON.parse(g.json.toString('utf8')) as Vg;
    } catch {
      /* an unreadable payload still has a seqno, size and checksum */
    }
    // Generations written before tm recorded its origin have none: null, not a guess.
    const o = vg.origin;
    return { seqno: g.seqno, time: o?.time ?? null, host: o?.host ?? null, command: o?.command ?? null, description: vg.description ?? null, size: g.json.length, stored: g.length, checksum: g.hash.toString('hex') };
  });
  return { format: 'dvm.tm-history/1', vg: vgName, id: st.vgId, generations };
}

// ---- update ------------------------------------------------------------------------

export interface UpdateOptions {
  sync?: Participant;
  description?: string;
  origin?: Origin;
  /** tm add/remove may change the PV list; mutators may not. */
  pvChange?: { joining: PvRead[]; leaving: string[] };
  /** called once generation N+1 is committed on every PV, before the participant's commit phase */
  onCommit?: (seqno: number) => void;
  /** what failed after the commit (the participant's commit phase); the commit stands */
  onWarning?: (text: string) => void;
}

/** Refuse to build on a VG that is not exactly one clean generation everywhere. */
export function requireClean(st: VgState, vg: Vg): void {
  for (const pv of st.members.values()) {
    const bad = st.issues.find((i) => i.path === pv.dev.path);
    if (bad) throw failed('VG', st.vgName, `${bad.path}: ${bad.text}; run 'tm recover ${st.vgName}' first`);
    if (pv.header?.committed?.seqno !== vg.seqno) throw failed('VG', st.vgName, `${pv.dev.path} is not at generation ${vg.seqno}; run 'tm recover ${st.vgName}' first`);
  }
}

/**
 * What tm checks a mutator's output against, taken from generation N before
 * the mutator runs: a mutator may change its input in place (ours never do,
 * library callers may), so tm keeps these values rather than a copy of the
 * whole document (a structuredClone of 10,000 LVs cost ~75 ms).
 */
export interface Baseline {
  seqno: number;
  id: string;
  name: string;
  extentSize: number;
  pvKey: string;
  /** areas of generation N already past the end of a shrunk PV: the change may keep, never add, such areas */
  pastEnd?: Set<string>;
}

const pvKey = (pvs: Vg['pvs']) => pvs.map((p) => `${p.id}/${p.size}/${p.pe_start}/${p.pe_count}`).sort().join(',');

export function baseline(cur: Vg): Baseline {
  return { seqno: cur.seqno, id: cur.id, name: cur.name, extentSize: cur.extent_size, pvKey: pvKey(cur.pvs) };
}

/** Check what a mutator returned against generation N (docs/commit-protocol.md, update step 2). */
export function checkNext(st: VgState, cur: Baseline, out: unknown, pvChange: boolean): Vg {
  const next = validate<Vg>('dvm.vg/1', out, 'mutator output');
  if (next.id !== cur.id) throw invalidInput('mutator output', 'id', `changed the VG id from ${cur.id} to ${next.id}`);
  if (next.name !== cur.name) throw invalidInput('mutator output', 'name', `changed the VG name from ${cur.name} to ${next.name}`);
  if (next.extent_size !== cur.extentSize) throw invalidInput('mutator output', 'extent_size', 'changed the extent size');
  if (!pvChange && pvKey(next.pvs) !== cur.pvKey) throw invalidInput('mutator output', 'pvs', "changed the PV list (use 'tm add' / 'tm remove')");
  const problems = checkVg(next);
  if (problems.length) throw invalidInput('mutator output', cur.name, problems[0]);
  for (const key of pastEnd(st, next)) {
    if (cur.pastEnd?.has(key)) continue;
    const [pv, pe] = key.split(':');
    throw failed('VG', cur.name, `the change places extents from ${pe} on PV ${pv}, past the end of its device, which shrank to ${st.shrunk.get(pv)} extents; nothing written`);
  }
  for (const id of st.missing) {
    const pv = next.pvs.find((p) => p.id === id);
    if (pv && !pv.flags.includes('missing')) throw failed('VG', cur.name, `PV ${id} is missing and the change does not record it as missing ('tm remove ${cur.name} --missing')`);
  }
  return next;
}

/**
 * The new generation's canonical bytes. This is the one check that the
 * mutator's output holds only values JSON carries (a mutator run in this
 * process could return NaN or a cycle; a forked one cannot).
 */
function encodeOutput(next: Vg): Buffer {
  try {
    return Buffer.from(canonicalJson(next));
  } catch (e) {
    throw invalidInput('mutator output', next.name, why(e));
  }
}

export async function update(vgName: string, devs: Dev[], mutate: Mutator, o: UpdateOptions = {}): Promise<Envelope> {
  const r = await updateWithJson(vgName, devs, mutate, o);
  if (r.afterCommit) o.onWarning?.(r.afterCommit);
  return r.env;
}

/** The envelope of a generation as canonical JSON, around the vg's canonical JSON (its record payload). */
export function envelopeJson(env: Envelope, vgJson: Buffer): Buffer {
  return canonicalJsonWithLast({ devices: env.devices, format: env.format, missing: env.missing }, 'vg', vgJson);
}

/** update(), also giving the new generation's canonical JSON (what tm update prints is built around it). */
export async function updateWithJson(vgName: string, devs: Dev[], mutate: Mutator, o: UpdateOptions = {}): Promise<{ env: Envelope; json: Buffer; afterCommit?: string }> {
  // 1. read generation N everywhere
  return commitNext(loadVg(vgName, devs), mutate, o);
}

/**
 * Steps 1 (verify) to 6 of an update on a VG already read: tm add, remove
 * and recover read the PVs once and commit on what they read.
 */
export async function commitNext(st: VgState, mutate: Mutator, o: UpdateOptions): Promise<{ env: Envelope; json: Buffer; afterCommit?: string }> {
  const vgName = st.vgName;
  const cur = requireHead(st);
  requireClean(st, cur);
  const headGen = st.head!;
  // 2. the mutator, then tm's own checks; seqno is tm's to set
  const base = baseline(cur);
  if (st.shrunk.size) base.pastEnd = pastEnd(st, cur);
  const snapshotsBefore = new Set(cur.lvs.filter((l) => l.snapshot).map((l) => l.id));
  const out = await mutate(cur);
  const next = checkNext(st, base, out, Boolean(o.pvChange));
  // a new snapshot's COW header is zeroed with the record, before the commit (cow.ts)
  const zeros = cowHeaderWrites(next, newSnapshots(snapshotsBefore, next)).map((z) => {
    const pv = st.members.get(z.pv);
    if (!pv || st.missing.includes(z.pv)) throw failed('cannot prepare snapshot', z.pv, 'the PV holding its COW space is missing; nothing written');
    return { dev: pv.dev, ...z };
  });
  next.seqno = base.seqno + 1;
  if (o.description !== undefined) next.description = o.description.slice(0, 4096);
  if (o.origin) next.origin = o.origin;
  else delete next.origin; // generation N's origin is not N+1's
  const json = encodeOutput(next);
  if (json.length > MAX_JSON) throw invalidInput('mutator output', vgName, `${json.length} bytes of metadata is over the ${MAX_JSON} byte limit; nothing written`);
  const enc = encodeGeneration(st.vgId, next.seqno, json, headGen.hash);
  const leaving = new Set(o.pvChange?.leaving ?? []);
  const targets = [...st.members.entries()].filter(([id]) => !leaving.has(id)).map(([, pv]) => pv);
  targets.push(...(o.pvChange?.joining ?? []));
  // every placement is decided before the first write, so "full" changes nothing
  const slots = targets.map((pv) => {
    const kept = pv.header?.committed ?? null;
    const off = placeNext(mdaSizeOf(pv), kept, enc.record.length);
    if (off === null) throw full(vgName, pv.dev.path, enc.record.length, mdaSizeOf(pv), kept);
    return slotOf(enc, off);
  });
  // generation N as the abort phase gets it: from its stored bytes (the mutator may have changed `cur`)
  const oldEnv = () => envelope(st, parseVg(headGen, vgName));
  for (const joining of o.pvChange?.joining ?? []) st.members.set(pvIdOf(joining)!, joining);
  const newEnv = envelope(st, next);
  let newText: Buffer | undefined;
  const newEnvText = () => (newText ??= envelopeJson(newEnv, json));
  // 3. the record into every ring and precommit in every header, in one
  // fsync barrier (phase 1). The precommit needs no barrier of its own before
  // it: if it reaches the disk without its record, it names a slot that does
  // not verify and reads as an interrupted transaction (N, rolled back).
  // It stays even without a participant: it is the second header copy that
  // knows N+1, so damage to the newest copy (the commit's) cannot silently
  // take the VG back to N (the corruption matrix in tm-damage). Two fsync
  // barriers, where there were three (docs/commit.md).
  for (const z of zeros) z.dev.write(z.offset, Buffer.alloc(z.length));
  targets.forEach((pv, i) => writeRecord(pv.dev, mdaSizeOf(pv), slots[i].offset, enc.record));
  targets.forEach((pv, i) => writeHeader(pv, ident(st, pv, vgName), pv.header?.committed ?? null, slots[i]));
  syncAll(targets);
  // 4. the participant prepares; on failure it aborts and precommit is cleared
  if (o.sync) {
    try {
      await o.sync('prepare', newEnv, newEnvText());
    } catch (e) {
      let abortNote = '';
      try {
        await o.sync('abort', oldEnv());
      } catch (e2) {
        abortNote = `; the abort phase failed too (${why(e2)})`;
      }
      const joining = new Set(o.pvChange?.joining ?? []);
      // joining PVs (tm add) were never committed: they go back to plain devices
      targets.forEach((pv) => (joining.has(pv) ? wipePv(pv.dev) : writeHeader(pv, ident(st, pv, vgName), pv.header?.committed ?? null, null)));
      syncAll(targets);
      throw failed('participant', 'prepare', `${why(e)}; generation ${next.seqno} rolled back${abortNote}`);
    }
  }
  // 5. the decision: committed = N+1 everywhere
  targets.forEach((pv, i) => writeHeader(pv, ident(st, pv, vgName), slots[i], null));
  syncAll(targets);
  o.onCommit?.(next.seqno);
  // 6. the participant makes it so. Generation N+1 is committed whatever it
  // says: a failure here is reported, never an error (a caller that retried
  // would make the change twice).
  let afterCommit: string | undefined;
  if (o.sync) {
    try {
      await o.sync('commit', newEnv, newEnvText());
    } catch (e) {
      afterCommit = `the participant's commit phase failed (${why(e)}): run 'tm recover ${vgName} --sync CMD' to converge`;
    }
  }
  return { env: newEnv, json, afterCommit };
}

// ---- recover -----------------------------------------------------------------------

export interface RecoverResult {
  env: Envelope;
  actions: string[];
  /** what verify still finds afterwards: what recover could not repair (a missing or shrunk PV, ...) */
  remaining: string[];
}

/**
 * Bring every present PV to the newest committed generation (or, if a
 * transaction was interrupted before any PV committed it, roll it back),
 * rebuild damaged labels and headers, wipe PVs that are no longer members.
 */
export async function recover(vgName: string, devs: Dev[], o: { sync?: Participant; origin?: Origin } = {}): Promise<RecoverResult> {
  const st = loadVg(vgName, devs);
  const actions: string[] = [];
  let head = st.head;
  let doc = st.doc;
  if (!head) {
    // Headers lost (or the head's records damaged) everywhere: the newest
    // intact generation in any ring that is not newer than any header claims.
    const limit = st.headSeqno || Infinity;
    let best: { g: Generation; vg: Vg } | null = null;
    for (const pv of st.pvs) {
      if (vgIdOf(pv) !== st.vgId) continue;
      for (const g of scanRing(pv.dev, mdaSizeOf(pv), st.vgId)) {
        if (g.seqno > limit || (best && g.seqno <= best.g.seqno)) continue;
        try {
          const vg = parseVg(g, vgName);
          if (vg.name === vgName && vg.id === st.vgId) best = { g, vg };
        } catch {
          // not usable
        }
      }
    }
    if (!best) throw failed('VG', vgName, `${st.headLost}, and no intact generation is left in any ring`);
    head = best.g;
    doc = best.vg;
    actions.push(`${st.headLost}: rebuilt from generation ${head.seqno} found in the ring`);
    st.head = head;
    st.doc = doc;
    st.members.clear();
    const ids = new Set(doc.pvs.map((p) => p.id));
    for (const pv of st.pvs) if (vgIdOf(pv) === st.vgId && ids.has(pvIdOf(pv)!)) st.members.set(pvIdOf(pv)!, pv);
    st.missing = doc.pvs.map((p) => p.id).filter((id) => !st.members.has(id));
  }
  const vg = doc!;
  const headGen = head;
  const enc: Encoded = reencode(st.vgId, headGen);
  let rolledBack = false;
  let rolledForward = false;
  const touched: PvRead[] = [];
  for (const [id, pv] of st.members) {
    const pre = pv.header?.precommit;
    if (pre && pre.seqno > headGen.seqno) rolledBack = true;
    if (pre && pre.seqno === headGen.seqno) rolledForward = true;
    // an interrupted growth of the area (tm grow-metadata) is finished first
    const grown = growing(pv);
    if (grown !== null && pv.committed && pv.header?.committed?.seqno === headGen.seqno && !pre) {
      const from = pv.header.mdaSize;
      if (from < mdaSizeOf(pv) && !extendProblem(pv, from, mdaSizeOf(pv))) actions.push(extendArea(pv, vgName, from, mdaSizeOf(pv)));
      else if (from === mdaSizeOf(pv)) {
        writeHeader(pv, ident(st, pv, vgName), pv.header.committed, null); // the copy still naming the smaller area
        pv.dev.sync();
        actions.push(`${pv.dev.path}: growth of the metadata area finished (header ${'AB'[pv.header.copy]})`);
      }
    }
    const labelOk = pv.label !== null;
    const headersOk = pv.headers.every((h) => h !== null) && !pv.headerErrors.length;
    const atHead = pv.header?.committed?.seqno === headGen.seqno && pv.header.committed.hash.equals(headGen.hash) && pv.committed !== null;
    if (labelOk && headersOk && atHead && !pre) continue;
    const mdaSize = mdaSizeOf(pv);
    if (!labelOk) {
      const entry = vg.pvs.find((p) => p.id === id)!;
      writeLabel(pv.dev, { pvId: id, vgId: st.vgId, deviceSize: pv.dev.size, mdaOffset: MDA_OFFSET, mdaSize, dataOffset: entry.pe_start * 512 });
      actions.push(`${pv.dev.path}: label rewritten`);
    }
    // Is the head generation already intact somewhere in this PV's ring?
    let slot: Slot | null = null;
    for (const s of [pv.header?.committed, pv.header?.precommit]) {
      // a slot of a header naming a smaller area than the label's is reused only if it does not wrap there
      const wrapsSmaller = s && growing(pv) !== null && s.offset + s.length > Math.min(...pv.headers.filter((h) => h).map((h) => h!.mdaSize));
      if (!slot && s && !wrapsSmaller && s.seqno === headGen.seqno && s.hash.equals(headGen.hash)) {
        try {
          readSlot(pv.dev, mdaSize, st.vgId, s, 'slot');
          slot = s;
        } catch {
          // damaged: write it again below
        }
      }
    }
    if (!slot) {
      const keep = pv.committed && pv.header?.committed ? [pv.header.committed] : [];
      const off = placeRecord(mdaSize, keep, enc.record.length) ?? placeRecord(mdaSize, [], enc.record.length);
      if (off === null) throw full(vgName, pv.dev.path, enc.record.length, mdaSize, keep[0] ?? null);
      writeRecord(pv.dev, mdaSize, off, enc.record);
      pv.dev.sync();
      slot = slotOf(enc, off);
      actions.push(`${pv.dev.path}: generation ${headGen.seqno} written to the ring`);
    }
    // Both copies, so that verify finds two good headers afterwards.
    const before = pv.header?.committed?.seqno;
    writeHeader(pv, ident(st, pv, vgName), slot, null);
    pv.dev.sync();
    writeHeader(pv, ident(st, pv, vgName), slot, null);
    pv.dev.sync();
    actions.push(`${pv.dev.path}: header ${before === headGen.seqno ? 'repaired' : `moved from generation ${before ?? 'none'} to ${headGen.seqno}`}${pre ? (pre.seqno > headGen.seqno ? `, precommitted ${pre.seqno} rolled back` : ', interrupted commit rolled forward') : ''}`);
    touched.push(pv);
  }
  // Devices of this VG that the head does not list: removed while absent, or
  // an interrupted `tm add`. They are not members; make them plain devices.
  const wiped: PvRead[] = [];
  for (const pv of st.pvs) {
    const id = pvIdOf(pv);
    if (vgIdOf(pv) !== st.vgId || !id || st.members.has(id)) continue;
    if (pv.header?.committed && pv.header.committed.seqno > headGen.seqno) continue; // newer than what we rebuilt: keep
    wipePv(pv.dev);
    pv.dev.sync();
    wiped.push(pv);
    actions.push(`${pv.dev.path}: PV ${id} is not a member of generation ${headGen.seqno}; label wiped`);
  }
  let env = envelope(st, vg);
  // PVs recorded as missing that are present again: record that they are back.
  const back = vg.pvs.filter((p) => p.flags.includes('missing') && st.members.has(p.id)).map((p) => p.id);
  if (back.length) {
    // Every member is now at the head with both headers good: what a second
    // read would find, so the update commits on this state (the issues
    // found before the repair are resolved for every member).
    const memberPaths = new Set([...st.members.values()].map((pv) => pv.dev.path));
    st.issues = st.issues.filter((i) => !memberPaths.has(i.path));
    st.pending = false;
    ({ env } = await commitNext(st, async (v) => unmarkMissing(v, back), { description: `tm recover: PV ${back.join(', ')} present again`, origin: o.origin }));
    actions.push(`PV ${back.join(', ')} present again: missing flag cleared in generation ${env.vg.seqno}`);
  }
  if (o.sync) {
    if (rolledBack && !rolledForward) await o.sync('abort', env);
    else await o.sync('commit', env);
  }
  // What verify would now find, from the state already read (each PV is read
  // once): every member is at the head with both headers good and this VG's
  // non-members are wiped, so what is left is devices recover cannot claim,
  // missing PVs and shrunk ones.
  const repaired = new Set([...st.members.values(), ...wiped].map((pv) => pv.dev.path));
  const remaining = [
    ...st.issues.filter((i) => !repaired.has(i.path)).map((i) => `${i.path}: ${i.text}`),
    ...st.missing.map((id) => `PV ${id} is missing`),
    ...shrinkProblems(st),
  ];
  return { env, actions, remaining };
}

// ---- add / remove --------------------------------------------------------------------

export async function add(vgName: string, devs: Dev[], newDevs: Dev[], o: { force?: boolean; sync?: Participant; origin?: Origin } & Pick<UpdateOptions, 'onCommit' | 'onWarning'> = {}): Promise<Envelope> {
  const st = loadVg(vgName, devs);
  const cur = requireHead(st);
  requireClean(st, cur);
  const sample = [...st.members.values()][0];
  if (!sample) throw failed('VG', vgName, 'no PV of the VG is present');
  const mdaSize = mdaSizeOf(sample);
  const dataOffset = MDA_OFFSET + mdaSize;
  // --force overrides a foreign signature, never this VG's own PV: a member
  // given as a new device (present or missing) would be wiped.
  const heads = newDevs.map(headCached);
  for (const d of heads) {
    const pv = readPv(d);
    if (vgIdOf(pv) === st.vgId) throw failed('device', d.path, `is already PV ${pvIdOf(pv)} of VG '${vgName}'${st.missing.includes(pvIdOf(pv)!) ? ' (listed as missing: give it with --dev)' : ''}; nothing written`);
    tooLarge(d);
  }
  // what update would refuse after the labels are written is refused before them
  for (const id of st.missing) {
    if (!cur.pvs.find((p) => p.id === id)?.flags.includes('missing')) throw failed('VG', vgName, `PV ${id} is missing; give its device, or record it with 'tm remove ${vgName} --missing' first; nothing written`);
  }
  if (!o.force) for (const d of heads) {
    const sig = probeSignature(d);
    if (sig) throw failed('device', d.path, `already holds a ${sig}; use --force to overwrite it`);
  }
  const entries = newDevs.map((d) => {
    const peCount = Math.floor((d.size - dataOffset) / (cur.extent_size * 512));
    if (peCount < 1) throw failed('device', d.path, 'too small for the metadata area plus one extent');
    return { id: newId(), size: Math.floor(d.size / 512), pe_start: dataOffset / 512, pe_count: peCount, flags: ['allocatable' as const] };
  });
  // Labels first, with empty headers: until the commit names them in every
  // header, a crash leaves them as non-members that recover wipes.
  const joining = newDevs.map((d, i) => {
    wipePv(d);
    writeLabel(d, { pvId: entries[i].id, vgId: st.vgId, deviceSize: d.size, mdaOffset: MDA_OFFSET, mdaSize, dataOffset } as Label);
    d.sync();
    return readPv(d);
  });
  const { env, afterCommit } = await commitNext(st, async (v) => ({ ...v, pvs: [...v.pvs, ...entries] }), {
    sync: o.sync,
    origin: o.origin,
    onCommit: o.onCommit,
    onWarning: o.onWarning,
    description: `tm add ${vgName} ${newDevs.map((d) => d.path).join(' ')}`,
    pvChange: { joining, leaving: [] },
  });
  if (afterCommit) o.onWarning?.(afterCommit);
  return env;
}

export async function remove(vgName: string, devs: Dev[], leavingDevs: Dev[], o: { missing?: boolean; sync?: Participant; origin?: Origin } & Pick<UpdateOptions, 'onCommit' | 'onWarning'> = {}): Promise<Envelope> {
  const st = loadVg(vgName, [...devs, ...leavingDevs]);
  requireHead(st);
  const leaving = leavingDevs.map((d) => {
    const pv = st.pvs.find((p) => p.dev === d)!;
    const id = pvIdOf(pv);
    if (!id || !st.members.has(id)) throw failed('device', d.path, `is not a PV of VG '${vgName}'`);
    return id;
  });
  const absent = o.missing ? [...st.missing] : [];
  const { env, afterCommit } = await commitNext(
    st,
    async (v) => {
      let next = leaving.length ? removePvs(v, leaving) : v;
      if (absent.length) next = dropOrMarkMissing(next, absent);
      return next;
    },
    { sync: o.sync, origin: o.origin, onCommit: o.onCommit, onWarning: o.onWarning, description: `tm remove ${vgName}${o.missing ? ' --missing' : ''} ${leavingDevs.map((d) => d.path).join(' ')}`.trim(), pvChange: { joining: [], leaving } },
  );
  for (const d of leavingDevs) {
    wipePv(d);
    d.sync();
  }
  if (afterCommit) o.onWarning?.(afterCommit);
  return env;
}
