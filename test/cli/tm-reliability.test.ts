// Issue 17, tm items on regular files, through the CLI: each test names the
// item it guards. PV image hashes are compared wherever a command must refuse.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { assertOneLineError, binPath, ROOT, runBin } from '../helpers/cli.js';
import { FileDev } from '../../src/pv-format/device.js';
import { readPv } from '../../src/pv-format/pv.js';
import { RING_OFFSET, alignUp } from '../../src/pv-format/layout.js';

const dir = mkdtempSync(path.join(tmpdir(), 'dvm-tm-rel-'));
const MUT = path.join(ROOT, 'test/fixtures/add-lv.js');
let n = 0;
function files(count: number, size = 64 * 1024 * 1024): string[] {
  const sub = path.join(dir, `set${n++}`);
  mkdirSync(sub, { recursive: true });
  return Array.from({ length: count }, (_, i) => {
    const p = path.join(sub, `g${i + 1}`);
    writeFileSync(p, '');
    truncateSync(p, size);
    return p;
  });
}
const hash = (ps: string[]) => ps.map((p) => createHash('sha256').update(readFileSync(p)).digest('hex'));
async function ok(args: string[], input?: string) {
  const r = await runBin('tm', args, { input });
  assert.is(r.exitCode, 0, `tm ${args.join(' ')}: ${r.stderr}`);
  return r;
}
const seqno = async (vg: string, ps: string[]) => JSON.parse((await ok(['read', vg, ...ps])).stdout).vg.seqno as number;

test('item 1: tm add --force of a device that is already a member is refused, nothing written', async () => {
  const [g1, g2, g3] = files(3);
  await ok(['init', 'vgg', g1, g2, g3]);
  await ok(['update', 'vgg', g1, g2, g3, '--', 'lv-create', 'big', '150M']);
  const before = hash([g1, g2, g3]);
  const r = await runBin('tm', ['add', 'vgg', g1, '--dev', g2, '--dev', g3, '--force']);
  assertOneLineError(r, 'tm', 1, /already PV/);
  assert.equal(hash([g1, g2, g3]), before, 'no PV changed');
  await ok(['verify', 'vgg', g1, g2, g3]);
  // present members too: add g1 while giving all three
  assertOneLineError(await runBin('tm', ['add', 'vgg', g1, '--dev', g2, '--dev', g3, '--dev', g1, '--force']), 'tm', 1);
  assert.equal(hash([g1, g2, g3]), before);
});

test('item 2: a PV that shrank is reported by verify, and no allocation reaches past its end', async () => {
  const [s1] = files(1);
  await ok(['init', 'vgs', s1]);
  await ok(['update', 'vgs', s1, '--', 'lv-create', 'l1', '8M']);
  truncateSync(s1, 20 * 1024 * 1024);
  assertOneLineError(await runBin('tm', ['verify', 'vgs', s1]), 'tm', 1, /shrank/);
  const before = hash([s1]);
  assertOneLineError(await runBin('tm', ['update', 'vgs', s1, '--', 'lv-create', 'l2', '20M']), 'tm', 1, /past the end/);
  assert.equal(hash([s1]), before, 'nothing written');
  // changes that stay inside the device still work: the way out
  await ok(['update', 'vgs', s1, '--', 'lv-remove', 'l1']);
});

test('item 8: mutator output with region_size 1e308 is invalid input (exit 3), nothing written', async () => {
  const ps = files(1);
  await ok(['init', 'vg8', ...ps]);
  const before = hash(ps);
  assertOneLineError(await runBin('tm', ['update', 'vg8', ...ps, '--', MUT, 'x', '--region', '1e308']), 'tm', 3);
  assertOneLineError(await runBin('tm', ['update', 'vg8', ...ps, '--', MUT, 'x', '--region', '12884901888']), 'tm', 3);
  assert.equal(hash(ps), before);
});

test('item 10: stdout unwritable after the commit: exit 0, a warning naming the committed generation', async () => {
  const ps = files(1);
  await ok(['init', 'vg10', ...ps]);
  await ok(['update', 'vg10', ...ps, '--', 'lv-create', 'lv1', '4M']);
  const r = await execa('sh', ['-c', `"${process.execPath}" "${binPath('tm')}" update vg10 "${ps[0]}" -- lv-extend lv1 +4M > /dev/full`], { reject: false });
  assert.is(r.exitCode, 0, String(r.stderr));
  const lines = String(r.stderr).trim().split('\n');
  assert.is(lines.length, 1, String(r.stderr));
  assert.match(lines[0], /^tm: warning: VG 'vg10' generation 3 is committed; but write 'stdout': ENOSPC/);
  assert.is(await seqno('vg10', ps), 3);
  // before the commit, the same failure is exit 1 and nothing is committed
  const bad = await execa('sh', ['-c', `"${process.execPath}" "${binPath('tm')}" update vg10 "${ps[0]}" -- lv-extend nosuch +4M > /dev/full`], { reject: false });
  assert.is(bad.exitCode, 1);
  assert.is(await seqno('vg10', ps), 3);
});

test('item 10: a --sync participant failing its commit phase: exit 0, committed, told to recover', async () => {
  const ps = files(1);
  await ok(['init', 'vg10s', ...ps]);
  const r = await runBin('tm', ['update', 'vg10s', ...ps, '--sync', 'test "$DVM_TM_PHASE" != commit', '--', 'lv-create', 'a', '4M']);
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stderr.trim(), /^tm: warning: VG 'vg10s' generation 2 is committed; but the participant's commit phase failed .*tm recover/);
  assert.is(JSON.parse(r.stdout).vg.seqno, 2);
});

test('item 11: tm recover that cannot repair a device says so and exits 1', async () => {
  const [a, b] = files(2, 20 * 1024 * 1024);
  await ok(['init', 'vg11', a, b, '--extent-size', '1M', '--metadata-size', '64K']);
  // a zeroed label and headers: the device is no longer recognisable
  const fd = openSync(b, 'r+');
  writeSync(fd, Buffer.alloc(1024 * 1024), 0, 1024 * 1024, 0);
  closeSync(fd);
  const r = await runBin('tm', ['recover', 'vg11', a, b]);
  assertOneLineError(r, 'tm', 1, /could not repair .*missing/);
  // a missing PV
  assertOneLineError(await runBin('tm', ['recover', 'vg11', a]), 'tm', 1, /could not repair/);
  // a truncated PV
  const [c] = files(1);
  await ok(['init', 'vg11t', c]);
  await ok(['update', 'vg11t', c, '--', 'lv-create', 'l', '40M']);
  truncateSync(c, 20 * 1024 * 1024);
  assertOneLineError(await runBin('tm', ['recover', 'vg11t', c]), 'tm', 1, /could not repair .*shrank/);
  // a clean VG still recovers with exit 0
  const [d] = files(1);
  await ok(['init', 'vg11c', d]);
  await ok(['recover', 'vg11c', d]);
});

test('item 5: a FIFO given as a device is refused before open (no hang)', async () => {
  const fifo = path.join(dir, 'fifo');
  await execa('mkfifo', [fifo]);
  const t0 = Date.now();
  assertOneLineError(await runBin('tm', ['read', 'vg0', fifo]), 'tm', 1, /neither a block device nor a regular file/);
  const d = await runBin('discover', ['--json', '--dev', fifo]);
  assert.is(d.exitCode, 0, d.stderr);
  assert.ok(Date.now() - t0 < 20_000);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
/** The committed record of a PV image as its header names it, and the ring end. */
function committedSlot(p: string) {
  const d = FileDev.open(p, false);
  try {
    const h = readPv(d).header!;
    return { offset: h.committed!.offset, length: h.committed!.length, mdaSize: h.mdaSize };
  } finally {
    d.close();
  }
}

test('item 4: a record mid-ring with less than its length free on either side: changes still commit (they wrap)', async () => {
  const [p] = files(1);
  await ok(['init', 'vgr', p, '--metadata-size', '1020K']); // a 1 MiB metadata area, as the issue's
  await ok(['update', 'vgr', p, '--', 'node', MUT, '--big', '3200']);
  await ok(['update', 'vgr', p, '--', 'node', MUT, '--big', '500']);
  // the stuck layout of the issue: 3,700 LVs, the record mid-ring, each gap smaller than it
  const cur = committedSlot(p);
  const need = alignUp(cur.length, 4096);
  const before = cur.offset - RING_OFFSET;
  const after = cur.mdaSize - alignUp(cur.offset + cur.length, 4096);
  assert.ok(before < need && after < need && before + after >= need, `mid-ring: ${before} and ${after} bytes free around ${need}`);
  const first = JSON.parse((await ok(['read', 'vgr', p])).stdout).vg.lvs[0].name as string;
  await ok(['update', 'vgr', p, '--', 'lv-remove', first]); // smaller: refused before (metadata area full)
  const wrapped = committedSlot(p);
  assert.ok(wrapped.offset + wrapped.length > wrapped.mdaSize, `the record wraps round the ring end (${wrapped.offset} + ${wrapped.length})`);
  await ok(['update', 'vgr', p, '--', 'node', MUT, '--big', '10']); // larger: fits too
  await ok(['verify', 'vgr', p]);
  assert.is(await seqno('vgr', [p]), 5);
  const hist = (await ok(['history', 'vgr', p])).stdout;
  assert.match(hist, /^\s+4\s/m, 'the wrapped generation is in the history');
  await ok(['read', 'vgr', p, '--seqno', '4']);
});

test('item 4: genuinely full (a generation past half the ring) is refused before any write; a smaller one is then accepted', async () => {
  const [p] = files(1);
  await ok(['init', 'vgf', p, '--metadata-size', '1020K']);
  await ok(['update', 'vgf', p, '--', 'node', MUT, '--big', '4500']);
  const image = hash([p]);
  assertOneLineError(await runBin('tm', ['update', 'vgf', p, '--', 'node', MUT, '--big', '700']), 'tm', 1, /metadata area full .*more than half the ring.*nothing written/);
  assert.equal(hash([p]), image, 'nothing written');
  const first = JSON.parse((await ok(['read', 'vgf', p])).stdout).vg.lvs[0].name as string;
  await ok(['update', 'vgf', p, '--', 'lv-remove', first]);
  await ok(['verify', 'vgf', p]);
});

test('item 4: the way out of a full area: tm grow-metadata moves the data start past free extents and grows the area; the refused change then commits', async () => {
  const [p, q] = files(2);
  await ok(['init', 'vgg', p, q, '--metadata-size', '1020K']);
  await ok(['update', 'vgg', p, q, '--', 'node', MUT, '--big', '4500']);
  await ok(['update', 'vgg', p, q, '--', 'lv-create', 'data', '8M']); // extents 0-1 of the first PV
  assertOneLineError(await runBin('tm', ['update', 'vgg', p, q, '--', 'node', MUT, '--big', '700']), 'tm', 1, /metadata area full .*tm grow-metadata vgg/);
  const image = hash([p, q]);
  assertOneLineError(await runBin('tm', ['grow-metadata', 'vgg', p, q, '--metadata-size', '4M']), 'tm', 1, /used by LV 'data'.*nothing written/);
  assertOneLineError(await runBin('tm', ['grow-metadata', 'vgg', p, q]), 'tm', 1, /already reaches its data start/);
  assert.equal(hash([p, q]), image, 'nothing written');
  await ok(['update', 'vgg', p, q, '--', 'lv-remove', 'data']);
  const r = await ok(['grow-metadata', 'vgg', p, q, '--metadata-size', '4M']);
  assert.match(r.stderr, /metadata area grown from 1044480 to 5238784 bytes/);
  assert.equal(JSON.parse(r.stdout).vg.pvs.map((x: { pe_start: number }) => x.pe_start), [10240, 10240], 'data start moved by one 4 MiB extent');
  await ok(['update', 'vgg', p, q, '--', 'node', MUT, '--big', '700']);
  await ok(['verify', 'vgg', p, q]);
  assert.equal(committedSlot(p).mdaSize, 5238784);
});

test.run();
