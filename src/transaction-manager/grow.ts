// tm grow-metadata: the way out of a full metadata area where the data start
// allows (issue 17 item 4). Asked for more than the gap before the data
// holds, one ordinary commit first moves each PV's data start past its first
// extents, which must be free (LVs keep their sectors); then each PV's area is
// extended up to its data start (extend.ts). Either half may be interrupted:
// the VG reads the same throughout; after the first, rerunning grows the
// area, after the second tm recover finishes it (update refuses until then).
import { failed } from '../lib/errors.js';
import type { Envelope, Origin } from '../lib/vg-types.js';
import type { Dev } from '../pv-format/device.js';
import { MAX_MDA, MDA_OFFSET } from '../pv-format/layout.js';
import { commitNext, read, requireClean } from './ops.js';
import { extendArea, extendProblem } from './extend.js';
import { moveDataStart } from './pvs.js';
import { loadVg, requireHead } from './state.js';

export interface GrowOptions {
  /** bytes: the area each PV should have at least; without it, as far as the data start allows */
  metadataSize?: number;
  origin?: Origin;
  onCommit?: (seqno: number) => void;
}

export async function growMetadata(vgName: string, devs: Dev[], o: GrowOptions = {}): Promise<{ env: Envelope; actions: string[] }> {
  let st = loadVg(vgName, devs);
  const cur = requireHead(st);
  requireClean(st, cur);
  if (st.missing.length) throw failed('VG', vgName, `PV ${st.missing[0]} is missing: every PV's area grows, or none; nothing written`);
  const extent = cur.extent_size * 512;
  const by = new Map<string, number>();
  let growing = 0;
  for (const [id, pv] of st.members) {
    const p = cur.pvs.find((x) => x.id === id)!;
    const start = p.pe_start * 512;
    const k = o.metadataSize === undefined ? 0 : Math.max(0, Math.ceil((MDA_OFFSET + o.metadataSize - start) / extent));
    const to = start + k * extent - MDA_OFFSET;
    if (to > MAX_MDA) throw failed('PV', pv.dev.path, `a metadata area of ${to} bytes is over the ${MAX_MDA} byte limit; nothing written`);
    if (k) by.set(id, k);
    if (to > pv.header!.mdaSize) growing++;
  }
  if (!growing) {
    throw failed('VG', vgName, o.metadataSize === undefined
      ? "every PV's metadata area already reaches its data start; give --metadata-size SIZE to move the data start past free extents"
      : `every PV's metadata area is already at least ${o.metadataSize} bytes; nothing written`);
  }
  if (by.size) {
    const sizes = [...by].map(([id, k]) => `${k} extent${k > 1 ? 's' : ''} of PV ${id}`).join(', ');
    await commitNext(st, async (v) => moveDataStart(v, by), { origin: o.origin, onCommit: o.onCommit, description: `tm grow-metadata ${vgName}: data start moved past ${sizes}`, pvChange: { joining: [], leaving: [] } });
    st = loadVg(vgName, devs);
    requireClean(st, requireHead(st));
  }
  const doc = st.doc!;
  const plan = [...st.members].map(([id, pv]) => ({ pv, from: pv.header!.mdaSize, to: doc.pvs.find((x) => x.id === id)!.pe_start * 512 - MDA_OFFSET })).filter((x) => x.to > x.from);
  for (const { pv, from, to } of plan) {
    const why = extendProblem(pv, from, to);
    if (why) throw failed('PV', pv.dev.path, `${why}; the metadata area was not grown`);
  }
  const actions = plan.map(({ pv, from, to }) => extendArea(pv, vgName, from, to));
  return { env: read(vgName, devs).env, actions };
}
