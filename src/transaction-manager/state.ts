// The VG as the given devices show it: which PVs are members, the newest
// committed generation (the head), and everything that disagrees with it.
import { failed } from '../lib/errors.js';
import { validate } from '../lib/schema.js';
import { checkVg } from '../lib/vg-check.js';
import type { Envelope, Vg } from '../lib/vg-types.js';
import type { Dev } from '../pv-format/device.js';
import { readPv, readSlot, scanRing, why, type Generation, type PvRead } from '../pv-format/pv.js';

export interface Issue {
  path: string;
  text: string;
}

export interface VgState {
  vgName: string;
  vgId: string;
  pvs: PvRead[]; // every given device, in the order given
  members: Map<string, PvRead>; // PV id -> device, for PVs listed in the head
  missing: string[];
  headSeqno: number; // highest committed seqno any header claims
  head: Generation | null; // a valid copy of that generation
  doc: Vg | null;
  headLost: string | null; // why no valid head could be found
  issues: Issue[]; // damage, staleness, pending transactions
  pending: boolean; // a precommit is outstanding somewhere
  /** members whose device is now smaller than their extents: PV id -> extents that still fit */
  shrunk: Map<string, number>;
}

export const pvIdOf = (pv: PvRead) => pv.label?.pvId ?? pv.header?.pvId ?? null;
export const vgIdOf = (pv: PvRead) => pv.label?.vgId ?? pv.header?.vgId ?? null;
export const mdaSizeOf = (pv: PvRead) => pv.label?.mdaSize ?? pv.header?.mdaSize ?? 0;
/** The smaller area size a header copy still names when a growth of the area was interrupted (tm recover finishes it), else null. */
export function growing(pv: PvRead): number | null {
  const sizes = pv.headers.filter((h) => h !== null).map((h) => h!.mdaSize);
  const least = Math.min(...sizes);
  return pv.label && sizes.length && least < pv.label.mdaSize ? least : null;
}

export function parseVg(g: Generation, where: string): Vg {
  let doc: unknown;
  try {
    doc = JSON.parse(g.json.toString('utf8'));
  } catch {
    throw failed('damaged metadata', where, `generation ${g.seqno} is not JSON`);
  }
  const vg = validate<Vg>('dvm.vg/1', doc, where);
  if (vg.seqno !== g.seqno) throw failed('damaged metadata', where, `record seqno ${g.seqno} holds document seqno ${vg.seqno}`);
  const problems = checkVg(vg);
  if (problems.length) throw failed('damaged metadata', where, problems[0]);
  return vg;
}

/** Read every device and work out the VG. Throws only when no answer is safe. */
export function loadVg(vgName: string, devs: Dev[]): VgState {
  const pvs = devs.map(readPv);
  const issues: Issue[] = [];
  for (const pv of pvs) {
    if (pv.labelError) issues.push({ path: pv.dev.path, text: pv.labelError });
    const small = growing(pv);
    if (small) issues.push({ path: pv.dev.path, text: `the growth of the metadata area from ${small} to ${pv.label!.mdaSize} bytes did not finish` });
    for (const e of pv.headerErrors) issues.push({ path: pv.dev.path, text: e });
    if (pv.recordError) issues.push({ path: pv.dev.path, text: pv.recordError });
  }
  const ours = pvs.filter((p) => vgIdOf(p) !== null);
  const vgIds = new Set(ours.map(vgIdOf));
  if (ours.length === 0) throw failed('VG', vgName, `no dvm PV among the given devices (${issues[0]?.path ?? 'none given'}: ${issues[0]?.text ?? 'no devices'})`);
  if (vgIds.size > 1) throw failed('VG', vgName, `the devices belong to different VGs (${[...vgIds].join(', ')})`);
  const vgId = [...vgIds][0]!;
  const byId = new Map<string, PvRead>();
  for (const pv of ours) {
    const id = pvIdOf(pv)!;
    const other = byId.get(id);
    if (other) throw failed('PV', id, `found on both ${other.dev.path} and ${pv.dev.path} (a cloned disk?); give only one`);
    byId.set(id, pv);
  }
  // The head: the highest committed seqno any header claims. Two PVs with the
  // same seqno but different content is split brain: refuse, never pick one.
  let headSeqno = 0;
  const hashes = new Map<number, { hash: Buffer; path: string }>();
  for (const pv of ours) {
    // The commit write goes to the copy after the one holding the precommit.
    // If that copy is damaged while the survivor holds {committed N,
    // precommit N+1}, the commit write had begun, so every PV already had
    // N+1 precommitted and the decision was to commit: count N+1 as committed.
    const h = pv.header;
    if (h?.committed && h.precommit && pv.headers[1 - h.copy] === null && h.precommit.seqno === h.committed.seqno + 1) {
      try {
        pv.committed = readSlot(pv.dev, h.mdaSize, vgIdOf(pv)!, h.precommit, 'precommit slot');
        pv.header = { ...h, committed: h.precommit, precommit: null };
        pv.recordError = null;
        issues.push({ path: pv.dev.path, text: `header ${'AB'[1 - h.copy]} lost during the commit of generation ${h.precommit.seqno}; taken as committed` });
      } catch {
        // the precommitted record is not intact: stay at N
      }
    }
    const c = pv.header?.committed;
    if (!c) continue;
    const seen = hashes.get(c.seqno);
    if (seen && !seen.hash.equals(c.hash)) throw failed('VG', vgName, `split brain: generation ${c.seqno} differs between ${seen.path} and ${pv.dev.path}; nothing is chosen: compare 'tm history ${vgName} DEV' of each, then read with the right PVs only`);
    hashes.set(c.seqno, { hash: c.hash, path: pv.dev.path });
    headSeqno = Math.max(headSeqno, c.seqno);
  }
  let head: Generation | null = null;
  let headLost: string | null = null;
  if (headSeqno === 0) headLost = 'no valid metadata header on any PV';
  else {
    const want = hashes.get(headSeqno)!.hash;
    head = ours.map((p) => p.committed).find((g) => g && g.seqno === headSeqno && g.hash.equals(want)) ?? null;
    // The header pointing at it may be on a PV whose record was damaged:
    // another PV's ring may still hold that generation, committed or not.
    if (!head) {
      for (const pv of ours) {
        head = scanRing(pv.dev, mdaSizeOf(pv), vgId).find((g) => g.seqno === headSeqno && g.hash.equals(want)) ?? null;
        if (head) break;
      }
    }
    if (!head) headLost = `generation ${headSeqno} has no valid copy on any PV`;
  }
  let doc: Vg | null = null;
  if (head) {
    doc = parseVg(head, vgName);
    if (doc.id !== vgId) throw failed('damaged metadata', vgName, `generation ${head.seqno} has VG id ${doc.id}, the labels say ${vgId}`);
  }
  const state: VgState = { vgName, vgId, pvs, members: new Map(), missing: [], headSeqno, head, doc, headLost, issues, pending: false, shrunk: new Map() };
  if (doc) {
    if (doc.name !== vgName) throw failed('VG', vgName, `the devices hold VG '${doc.name}'`);
    const memberIds = new Set(doc.pvs.map((p) => p.id));
    for (const [id, pv] of byId) {
      if (memberIds.has(id)) state.members.set(id, pv);
      else issues.push({ path: pv.dev.path, text: `PV ${id} is not a member of generation ${headSeqno} (outdated)` });
    }
    state.missing = doc.pvs.map((p) => p.id).filter((id) => !state.members.has(id));
    // Every read compares the device with what the PV records: a device that
    // shrank (a truncated file, a smaller LUN) must never get extents past its end.
    for (const p of doc.pvs) {
      const pv = state.members.get(p.id);
      if (!pv) continue;
      const sectors = Math.floor(pv.dev.size / 512);
      if (sectors >= p.pe_start + p.pe_count * doc.extent_size) continue;
      state.shrunk.set(p.id, Math.max(0, Math.floor((sectors - p.pe_start) / doc.extent_size)));
    }
  }
  // A PV behind the head should hold an ancestor of it; one from another
  // history (images mixed from diverged copies) is reported, not just "stale".
  const behind = [...state.members.values()].filter((pv) => pv.header?.committed && pv.header.committed.seqno < headSeqno);
  let lineage: Map<number, Buffer> | null = null;
  if (behind.length && head) {
    const all: Generation[] = [];
    for (const pv of state.members.values()) all.push(...scanRing(pv.dev, mdaSizeOf(pv), vgId));
    lineage = new Map(walkChain(all, head).map((g) => [g.seqno, g.hash]));
  }
  for (const pv of state.members.values()) {
    const c = pv.header?.committed;
    if (c && c.seqno < headSeqno) {
      const ancestor = lineage?.get(c.seqno);
      const diverged = ancestor !== undefined && !ancestor.equals(c.hash);
      issues.push({ path: pv.dev.path, text: diverged ? `diverged: its generation ${c.seqno} is not an ancestor of generation ${headSeqno}` : `stale: holds generation ${c.seqno}, the VG is at ${headSeqno}` });
    }
    if (pv.header?.precommit) {
      state.pending = true;
      issues.push({ path: pv.dev.path, text: `interrupted transaction: generation ${pv.header.precommit.seqno} is precommitted` });
    }
  }
  return state;
}

/** What verify and warnings say about shrunk devices. */
export function shrinkProblems(st: VgState): string[] {
  return [...st.shrunk].map(([id, fit]) => {
    const pv = st.doc!.pvs.find((p) => p.id === id)!;
    const path = st.members.get(id)!.dev.path;
    return `${path}: shrank to ${st.members.get(id)!.dev.size} bytes; PV ${id} records ${pv.size * 512} bytes and ${pv.pe_count} extents, only ${fit} fit (restore its size)`;
  });
}

/** Areas on shrunk PVs that reach past the device's end, as `pv:pe:len` keys. */
export function pastEnd(st: VgState, vg: Vg): Set<string> {
  const out = new Set<string>();
  if (!st.shrunk.size) return out;
  for (const lv of vg.lvs)
    for (const s of lv.segments) {
      const len = s.type === 'striped' && s.areas.length ? s.extent_count / s.areas.length : s.extent_count;
      for (const a of s.areas) {
        if (!('pv' in a)) continue;
        const fit = st.shrunk.get(a.pv);
        if (fit !== undefined && a.pe + len > fit) out.add(`${a.pv}:${a.pe}:${len}`);
      }
    }
  return out;
}

export function requireHead(st: VgState): Vg {
  if (!st.doc) throw failed('VG', st.vgName, `${st.headLost}; run 'tm recover ${st.vgName}'`);
  return st.doc;
}

export function envelope(st: VgState, vg: Vg): Envelope {
  const devices: Record<string, string> = {};
  for (const pv of vg.pvs) {
    const d = st.members.get(pv.id);
    if (d) devices[pv.id] = d.dev.path;
  }
  return { format: 'dvm.envelope/1', vg, devices, missing: vg.pvs.map((p) => p.id).filter((id) => !devices[id]) };
}

/** The committed lineage in a ring: from `head` back along prev-hash links. */
export function walkChain(all: Generation[], head: Generation | null): Generation[] {
  if (!head) return [];
  const byHash = new Map<string, Generation>();
  for (const g of all) byHash.set(g.hash.toString('hex'), g);
  const out = [head];
  let cur = head;
  for (;;) {
    const prev = byHash.get(cur.prevHash.toString('hex'));
    if (!prev || prev.seqno !== cur.seqno - 1) break;
    out.push(prev);
    cur = prev;
  }
  return out;
}

export { why };
