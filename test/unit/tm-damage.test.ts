// Damage on disk: corruption of every structure on one, some and all PVs,
// crafted values, stale and missing PVs, split brain, a full metadata area,
// and the 10,000-LV sizing. In process, on memory images.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalJson } from '../../src/lib/canonical-json.js';
import { ToolError } from '../../src/lib/errors.js';
import type { Vg } from '../../src/lib/vg-types.js';
import { MemDev } from '../../src/pv-format/device.js';
import { BLOCK, LABEL_OFFSET, MDA_OFFSET, REC_HDR, RING_OFFSET, decodeHeader, encodeHeader } from '../../src/pv-format/layout.js';
import { crc32 } from '../../src/pv-format/crc32.js';
import { add, init, read, recover, remove, update, verify } from '../../src/transaction-manager/ops.js';
import { readPv } from '../../src/pv-format/pv.js';
import { loadVg } from '../../src/transaction-manager/state.js';
import { randomBytes } from 'node:crypto';
import { addLv, cloneDevs, memDevs, MiB, randomLvs, ringEndSetup, testId } from '../helpers/tm.js';

const text = (vg: Vg) => canonicalJson(vg);
const isToolError = (code: number) => (e: unknown) => e instanceof ToolError && e.exitCode === code && !e.message.includes('\n');

async function base(n = 3): Promise<{ devs: MemDev[]; gens: string[] }> {
  const devs = memDevs(n);
  const gens = [text(init('vg0', devs, { metadataSize: 64 * 1024, extentSize: 128 }).vg)];
  for (const name of ['a', 'b']) gens.push(text((await update('vg0', devs, addLv(name))).vg));
  return { devs, gens }; // gens[2] is the head (seqno 3)
}

type Region = 'label' | 'header A' | 'header B' | 'both headers' | 'committed record';
const regions: Region[] = ['label', 'header A', 'header B', 'both headers', 'committed record'];

/** [offset, length] ranges of a region on one PV. */
function ranges(d: MemDev, r: Region): [number, number][] {
  const pv = readPv(d);
  const slot = pv.header!.committed!;
  switch (r) {
    case 'label':
      return [[LABEL_OFFSET, 512]];
    case 'header A':
      return [[MDA_OFFSET, 512]];
    case 'header B':
      return [[MDA_OFFSET + BLOCK, 512]];
    case 'both headers':
      return [[MDA_OFFSET, 512], [MDA_OFFSET + BLOCK, 512]];
    case 'committed record':
      return [[MDA_OFFSET + slot.offset, slot.length]];
  }
}

function damage(d: MemDev, r: Region, how: 'bitflip' | 'zero', seed: number): void {
  for (const [off, len] of ranges(d, r)) {
    if (how === 'bitflip') {
      const at = off + ((seed * 7919) % len);
      d.image[at] ^= 1 << (seed % 8);
    } else {
      const sectors = Math.ceil(len / 512);
      const s = seed % sectors;
      d.image.fill(0, off + s * 512, Math.min(off + len, off + s * 512 + 512));
    }
  }
}

let cases = 0;
for (const r of regions) {
  for (const how of ['bitflip', 'zero'] as const) {
    for (const scope of ['one', 'some', 'all'] as const) {
      test(`corruption: ${how} in ${r} on ${scope} PV(s) is detected and repaired`, async () => {
        const { devs, gens } = await base(3);
        const hit = scope === 'one' ? [0] : scope === 'some' ? [0, 1] : [0, 1, 2];
        hit.forEach((i) => damage(devs[i], r, how, i + 3));
        const v = verify('vg0', devs);
        assert.ok(v.problems.length > 0, 'verify detects the damage');
        assert.ok(v.problems.every((p) => !p.includes('\n')), 'one-line diagnoses');
        // read: the head exactly, or a one-line refusal; never other metadata
        let readBack: string | null = null;
        try {
          readBack = text(read('vg0', devs).env.vg);
        } catch (e) {
          assert.ok(isToolError(1)(e), `read refuses with exit 1: ${(e as Error).message}`);
        }
        const recordsGone = r === 'committed record' && scope === 'all';
        if (readBack !== null) assert.is(readBack, gens[2], 'read returns the head');
        else assert.ok(recordsGone || (r === 'both headers' && scope === 'all'), `read may refuse only when no PV has a usable copy (${r}, ${scope})`);
        const rec = await recover('vg0', devs);
        assert.ok(rec.actions.length > 0, 'recover says what it did');
        // every copy of the head's record destroyed: the previous generation, said so
        const want = recordsGone ? gens[1] : gens[2];
        if (recordsGone) assert.ok(rec.actions.some((a) => a.includes('generation 2')), rec.actions.join('; '));
        assert.is(text(rec.env.vg), want);
        assert.is(text(read('vg0', devs).env.vg), want);
        assert.equal(verify('vg0', devs).problems, []);
        cases++;
      });
    }
  }
}

test('corruption matrix size', () => {
  console.log(`corruption cases checked: ${cases}`);
  assert.is(cases, regions.length * 2 * 3);
});

// ---- crafted values ----------------------------------------------------------------

/** A device that refuses reads larger than `cap` (no huge buffers from crafted lengths). */
function capped(d: MemDev, cap = 2 * MiB): MemDev {
  const orig = d.read.bind(d);
  d.read = (o: number, l: number) => {
    if (l > cap) throw new Error(`read of ${l} bytes attempted`);
    return orig(o, l);
  };
  return d;
}
const reseal = (b: Buffer, off: number, size: number) => b.writeUInt32LE(crc32(b, off, off + size - 4), off + size - 4);

test('crafted values: label sizes and offsets past the end, overflowing u64s', async () => {
  const crafted: [string, (b: Buffer) => void][] = [
    ['mda size past the device', (b) => b.writeBigUInt64LE(2n ** 40n, LABEL_OFFSET + 96)],
    ['mda size not aligned', (b) => b.writeBigUInt64LE(12345n, LABEL_OFFSET + 96)],
    ['data offset past the end', (b) => b.writeBigUInt64LE(2n ** 50n, LABEL_OFFSET + 104)],
    ['data offset inside the mda', (b) => b.writeBigUInt64LE(4096n, LABEL_OFFSET + 104)],
    ['u64 beyond 2^53', (b) => b.writeBigUInt64LE(2n ** 63n + 5n, LABEL_OFFSET + 88)],
    ['mda offset elsewhere', (b) => b.writeBigUInt64LE(8192n, LABEL_OFFSET + 88)],
  ];
  for (const [name, f] of crafted) {
    const { devs, gens } = await base(2);
    f(devs[0].image);
    reseal(devs[0].image, LABEL_OFFSET, 512);
    capped(devs[0]);
    const pv = readPv(devs[0]);
    assert.ok(pv.labelError, `${name}: label rejected`);
    assert.is(text(read('vg0', devs).env.vg), gens[2], `${name}: the VG still reads`);
    await recover('vg0', devs);
    assert.equal(verify('vg0', devs).problems, [], `${name}: repaired`);
  }
});

test('crafted values: header slots and record lengths past the area, overflowing lengths', async () => {
  const hdr = (copy: number) => MDA_OFFSET + copy * BLOCK;
  const crafted: [string, (b: Buffer, slotOff: number) => void][] = [
    ['slot offset past the area', (b) => b.writeBigUInt64LE(2n ** 40n, hdr(0) + 64)],
    ['slot length overflowing', (b) => b.writeBigUInt64LE(2n ** 64n - 1n, hdr(0) + 72)],
    ['slot length past the area', (b) => b.writeBigUInt64LE(BigInt(1 << 30), hdr(0) + 72)],
    ['slot offset unaligned', (b) => b.writeBigUInt64LE(8193n, hdr(0) + 64)],
    ['mda size in header huge', (b) => b.writeBigUInt64LE(2n ** 52n, hdr(0) + 56)],
    ['record stored length huge', (b, s) => b.writeBigUInt64LE(2n ** 45n, MDA_OFFSET + s + 56)],
    ['record raw length huge (inflate bomb)', (b, s) => b.writeBigUInt64LE(2n ** 40n, MDA_OFFSET + s + 64)],
    ['record stored length overflowing', (b, s) => b.writeBigUInt64LE(2n ** 64n - 256n, MDA_OFFSET + s + 56)],
  ];
  for (const [name, f] of crafted) {
    const { devs, gens } = await base(2);
    const pv = readPv(devs[0]);
    const slotOff = pv.header!.committed!.offset;
    // make both copies identical so the crafted one is the newest
    for (const copy of [0, 1]) devs[0].image.copy(devs[0].image, hdr(copy), hdr(pv.header!.copy), hdr(pv.header!.copy) + BLOCK);
    for (const copy of [0, 1]) devs[0].image.writeUInt32LE(copy, hdr(copy) + 12);
    f(devs[0].image, slotOff);
    reseal(devs[0].image, hdr(0), 512);
    reseal(devs[0].image, hdr(1), 512);
    reseal(devs[0].image, MDA_OFFSET + slotOff, REC_HDR);
    capped(devs[0]);
    const st = loadVg('vg0', devs);
    assert.ok(st.issues.some((i) => i.path === devs[0].path), `${name}: detected`);
    assert.is(text(read('vg0', devs).env.vg), gens[2], `${name}: the VG still reads from the other PV`);
    await recover('vg0', devs);
    assert.equal(verify('vg0', devs).problems, [], `${name}: repaired`);
  }
});

// ---- records that wrap round the ring end (issue 17 item 4) ------------------------------

async function wrapped(n: number): Promise<{ devs: MemDev[]; head: string; prev: string }> {
  const devs = memDevs(n);
  init('vg0', devs, { metadataSize: 64 * 1024, extentSize: 128 });
  await ringEndSetup(devs, update);
  const prev = text(read('vg0', devs).env.vg);
  const head = text((await update('vg0', devs, randomLvs(32))).vg);
  const s = readPv(devs[0]).header!;
  assert.ok(s.committed!.offset + s.committed!.length > s.mdaSize, 'the head record wraps');
  return { devs, head, prev };
}

test('a wrapped record: damage in its part at the ring start is detected; the VG reads from another PV and recover rewrites it', async () => {
  const { devs, head } = await wrapped(2);
  // the wrapped tail, not the part the header points at; its length depends
  // on how well the random names deflate, so the byte is chosen inside it
  const h = readPv(devs[0]).header!;
  const tail = h.committed!.offset + h.committed!.length - h.mdaSize;
  devs[0].image[MDA_OFFSET + RING_OFFSET + Math.floor(tail / 2)] ^= 1;
  assert.ok(loadVg('vg0', devs).issues.some((i) => i.path === devs[0].path && /checksum/.test(i.text)), 'detected');
  assert.is(text(read('vg0', devs).env.vg), head);
  await recover('vg0', devs);
  assert.equal(verify('vg0', devs).problems, []);
  assert.is(text(read('vg0', [devs[0]]).env.vg), head, 'the repaired PV alone reads the head');
});

test('a wrapped record is found by a ring scan: headers lost everywhere, recover rebuilds from it', async () => {
  const { devs, head } = await wrapped(1);
  devs[0].image.fill(0, MDA_OFFSET, MDA_OFFSET + 2 * BLOCK);
  const r = await recover('vg0', devs);
  assert.ok(r.actions.some((a) => /rebuilt from generation 4/.test(a)), r.actions.join('; '));
  assert.is(text(r.env.vg), head);
  assert.equal(verify('vg0', devs).problems, []);
});

test('recover writes a wrapping record to a stale PV, beside the record it keeps', async () => {
  const devs = memDevs(3);
  init('vg0', devs, { metadataSize: 64 * 1024, extentSize: 128 });
  await ringEndSetup(devs, update);
  const old = Buffer.from(devs[2].image);
  const head = text((await update('vg0', devs, randomLvs(32))).vg);
  old.copy(devs[2].image); // PV 2 missed generation 4
  const r = await recover('vg0', devs);
  assert.ok(r.actions.some((a) => a.startsWith(`${devs[2].path}: generation 4 written`)), r.actions.join('; '));
  const s = readPv(devs[2]).header!.committed!;
  assert.ok(s.offset + s.length > readPv(devs[2]).header!.mdaSize, 'written round the ring end');
  assert.is(text(read('vg0', [devs[2]]).env.vg), head);
  assert.equal(verify('vg0', devs).problems, []);
});

test('a slot longer than the ring is refused even where wrapping would allow its offset', () => {
  const h = (length: number, offset = RING_OFFSET + BLOCK) => ({ copy: 0, generation: 1, vgId: 'V'.repeat(32), pvId: 'P'.repeat(32), vgName: 'vg0', mdaSize: RING_OFFSET + 6 * BLOCK, committed: { offset, length, seqno: 1, hash: Buffer.alloc(32) }, precommit: null });
  const expect = { vgId: 'V'.repeat(32), pvId: 'P'.repeat(32), mdaSize: RING_OFFSET + 6 * BLOCK };
  assert.is(decodeHeader(encodeHeader(h(6 * BLOCK)), 0, expect).committed!.length, 6 * BLOCK);
  assert.throws(() => decodeHeader(encodeHeader(h(6 * BLOCK + 1)), 0, expect), /larger than the ring/);
  assert.throws(() => decodeHeader(encodeHeader(h(300, RING_OFFSET + 6 * BLOCK)), 0, expect), /past the ring end/);
});

// ---- stale, missing, split brain -----------------------------------------------------

test('a PV rolled back to an old image is detected as stale, update refuses, recover brings it forward', async () => {
  const { devs, gens } = await base(3);
  const old = Buffer.from(devs[1].image);
  await update('vg0', devs, addLv('c'));
  const head = text(read('vg0', devs).env.vg);
  old.copy(devs[1].image); // roll PV 1 back to generation 3
  const st = loadVg('vg0', devs);
  assert.ok(st.issues.some((i) => i.text.includes('stale')));
  assert.is(text(read('vg0', devs).env.vg), head, 'read returns the newest');
  assert.ok(verify('vg0', devs).problems.some((p) => p.includes('stale')));
  await update('vg0', devs, addLv('d')).then(
    () => assert.unreachable('update must refuse'),
    (e) => assert.ok(isToolError(1)(e) && /recover/.test(e.message), e.message),
  );
  await recover('vg0', devs);
  assert.equal(verify('vg0', devs).problems, []);
  assert.is(readPv(devs[1]).header!.committed!.seqno, 4);
  assert.is.not(head, gens[2]);
});

test('a missing PV is reported; update refuses unless the change records it missing; remove --missing', async () => {
  const { devs } = await base(3);
  const present = devs.slice(0, 2);
  const { env } = read('vg0', present);
  const gone = env.vg.pvs.find((p) => !env.devices[p.id])!.id;
  assert.equal(env.missing, [gone]);
  assert.ok(verify('vg0', present).problems.some((p) => p.includes('missing')));
  await update('vg0', present, addLv('c')).then(
    () => assert.unreachable('must refuse'),
    (e) => assert.ok(isToolError(1)(e) && e.message.includes('missing'), e.message),
  );
  const marked = await update('vg0', present, async (vg) => {
    const v = await addLv('c')(vg);
    v.pvs.find((p) => p.id === gone)!.flags.push('missing');
    return v;
  });
  assert.ok(marked.vg.pvs.find((p) => p.id === gone)!.flags.includes('missing'));
  assert.equal(marked.missing, [gone]);
  // it comes back: recover brings it forward and records that it is back
  const rec = await recover('vg0', devs);
  assert.ok(!rec.env.vg.pvs.find((p) => p.id === gone)!.flags.includes('missing'));
  assert.equal(verify('vg0', devs).problems, []);
  // it goes away for good; it holds nothing (addLv used the first PVs), so remove --missing drops it
  const out = await remove('vg0', present, [], { missing: true });
  assert.is(out.vg.pvs.length, 2);
  assert.equal(out.missing, []);
  assert.equal(verify('vg0', present).problems, []);
});

test('split brain (same seqno, different content on two PVs) is refused, never chosen', async () => {
  const devs = memDevs(2);
  init('vg0', devs, { metadataSize: 64 * 1024, extentSize: 128 });
  const p = cloneDevs(devs);
  const q = cloneDevs(devs);
  await update('vg0', p, addLv('x'));
  await update('vg0', q, addLv('y'));
  const mixed = [p[0], q[1]];
  assert.throws(() => read('vg0', mixed), (e: unknown) => isToolError(1)(e) && /split brain/.test((e as Error).message));
  // one step further on one side: not split brain but a diverged (not merely stale) PV, reported
  await update('vg0', p, addLv('z'));
  const st = loadVg('vg0', [p[0], q[1]]);
  assert.ok(st.issues.some((i) => i.path === q[1].path && /diverged/.test(i.text)), JSON.stringify(st.issues));
});

// ---- full area, and 10,000 LVs ----------------------------------------------------------

test('a full metadata area fails before anything is written, and nothing is lost', async () => {
  const devs = memDevs(2);
  init('vg0', devs, { metadataSize: 64 * 1024, extentSize: 128 });
  const many = (n: number) => async (vg: Vg) => {
    for (let i = 0; i < n; i++) vg.lvs.push({ id: testId(), name: `lv${randomBytes(90).toString('base64url')}`, flags: [], segments: [{ start_extent: 0, extent_count: 1, type: 'error', areas: [] }] });
    return vg;
  };
  // just under half the ring (about 120 bytes per LV); 7,000 LVs before
  // issue 17 item 4, when a record could take the whole ring less the kept one
  const big = await update('vg0', devs, many(4000));
  const before = devs.map((d) => Buffer.from(d.image));
  await update('vg0', devs, many(700)).then(
    () => assert.unreachable('must not fit'),
    (e) => assert.ok(isToolError(1)(e) && /metadata area full/.test(e.message), e.message),
  );
  devs.forEach((d, i) => assert.ok(d.image.equals(before[i]), 'nothing written'));
  assert.is(text(read('vg0', devs).env.vg), text(big.vg));
  assert.equal(verify('vg0', devs).problems, []);
  // the way out: a change that makes the record smaller is always accepted
  const smaller = await update('vg0', devs, async (vg) => ({ ...vg, lvs: vg.lvs.slice(1) }));
  assert.is(smaller.vg.lvs.length, 3999);
  assert.equal(verify('vg0', devs).problems, []);
});

test('10,000 LVs fit in the default metadata area (with room for the next generation)', async () => {
  const devs = [new MemDev('/mem/big', Buffer.alloc(9 * MiB + 10_001 * 4096))];
  init('vg0', devs, { extentSize: 8 });
  const pvId = read('vg0', devs).env.vg.pvs[0].id;
  await update('vg0', devs, async (vg) => {
    for (let i = 0; i < 10_000; i++) vg.lvs.push({ id: `lv${String(i).padStart(30, '0')}`, name: `lvol${i}`, flags: [], segments: [{ start_extent: 0, extent_count: 1, type: 'linear', areas: [{ pv: pvId, pe: i }] }] });
    return vg;
  });
  const env = await update('vg0', devs, addLv('one-more'));
  assert.is(env.vg.lvs.length, 10_001);
  assert.is(read('vg0', devs).env.vg.lvs.length, 10_001);
  assert.equal(verify('vg0', devs).problems, []);
});

test('tm add with a participant that refuses prepare: the new PV is left a plain device', async () => {
  const devs = memDevs(3);
  init('vg0', devs.slice(0, 2), { metadataSize: 64 * 1024, extentSize: 128 });
  const before = text(read('vg0', devs.slice(0, 2)).env.vg);
  const phases: string[] = [];
  await add('vg0', devs.slice(0, 2), devs.slice(2), {
    sync: async (p) => {
      phases.push(p);
      if (p === 'prepare') throw new Error('no');
    },
  }).then(
    () => assert.unreachable('must fail'),
    (e) => assert.ok(isToolError(1)(e), e.message),
  );
  assert.equal(phases, ['prepare', 'abort']);
  assert.ok(readPv(devs[2]).labelError, 'no label on the new device');
  assert.is(text(read('vg0', devs.slice(0, 2)).env.vg), before);
  assert.equal(verify('vg0', devs.slice(0, 2)).problems, []);
});

test.run();
