// Issue 17 items 7, 8 and 12 on a small tmpfs (root: mount): a full disk is
// exit 1 with one line and nothing half-committed; a 4 EiB sparse file is
// exit 1 naming dvm's limit; 88 MB of valid metadata is invalid input (exit 3).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { assertOneLineError, ROOT, runBin } from '../helpers/cli.js';

const mnt = mkdtempSync(path.join(tmpdir(), 'dvm-full-'));
const MUT = path.join(ROOT, 'test/fixtures/add-lv.js');
const hash = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

test.before(async () => {
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]);
});
test.after(async () => {
  await execa('umount', [mnt], { reject: false });
  rmSync(mnt, { recursive: true, force: true });
});

/** Fill the filesystem, leaving nothing for a sparse file's holes. */
async function fill(): Promise<void> {
  await execa('sh', ['-c', `dd if=/dev/zero of=${mnt}/filler bs=64k 2>/dev/null || true`]);
}

test('item 7: tm init on a full filesystem exits 1 with one line', async () => {
  const pv = path.join(mnt, 'pv-init.img');
  writeFileSync(pv, '');
  truncateSync(pv, 64 * 1024 * 1024);
  await fill();
  try {
    assertOneLineError(await runBin('tm', ['init', 'vgfull', pv]), 'tm', 1, /ENOSPC/);
    // the label goes last: what was written is not a PV
    assertOneLineError(await runBin('tm', ['read', 'vgfull', pv]), 'tm', 1);
  } finally {
    rmSync(path.join(mnt, 'filler'), { force: true });
    rmSync(pv, { force: true });
  }
});

test('item 7: tm update on a full filesystem exits 1 with one line; generation N stays', async () => {
  const pv = path.join(mnt, 'pv-up.img');
  writeFileSync(pv, '');
  truncateSync(pv, 64 * 1024 * 1024);
  const init = await runBin('tm', ['init', 'vgup', pv, '--metadata-size', '1M']);
  assert.is(init.exitCode, 0, init.stderr);
  await fill();
  try {
    const r = await runBin('tm', ['update', 'vgup', pv, '--', MUT, 'x', '--big', '2000']);
    assertOneLineError(r, 'tm', 1, /ENOSPC/);
    const read = await runBin('tm', ['read', 'vgup', pv]);
    assert.is(read.exitCode, 0, read.stderr);
    assert.is(JSON.parse(read.stdout).vg.seqno, 1, 'nothing committed');
  } finally {
    rmSync(path.join(mnt, 'filler'), { force: true });
    rmSync(pv, { force: true });
  }
});

test('item 12: tm init on a 4 EiB sparse file exits 1 naming the limit, writing nothing', async () => {
  const pv = path.join(mnt, 'huge.img');
  await execa('truncate', ['-s', '4E', pv]); // beyond what Node's truncate takes
  try {
    const before = (await execa('du', ['-B1', pv])).stdout;
    assertOneLineError(await runBin('tm', ['init', 'vghuge', pv]), 'tm', 1, /up to 9007199254740992 bytes/);
    assert.is((await execa('du', ['-B1', pv])).stdout, before, 'nothing written');
  } finally {
    rmSync(pv, { force: true });
  }
});

test('item 8: 88 MB of valid metadata from a mutator is invalid input (exit 3), nothing written', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dvm-big-'));
  try {
    const pv = path.join(dir, 'pv.img');
    writeFileSync(pv, '');
    truncateSync(pv, 64 * 1024 * 1024);
    assert.is((await runBin('tm', ['init', 'vgbig', pv])).exitCode, 0);
    const before = hash(pv);
    const r = await runBin('tm', ['update', 'vgbig', pv, '--', MUT, 'x', '--big', '340000']);
    assertOneLineError(r, 'tm', 3, /over the 67108864 byte limit/);
    assert.is(hash(pv), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
