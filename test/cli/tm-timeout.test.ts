// Issue 17 item 5: no tm command hangs. --timeout bounds the mutator, each
// --sync phase and the wait for another tm's lock; the lock message names the holder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { assertOneLineError, binPath, ROOT, runBin } from '../helpers/cli.js';

const dir = mkdtempSync(path.join(tmpdir(), 'dvm-timeout-'));
const MUT = path.join(ROOT, 'test/fixtures/add-lv.js');
let n = 0;
async function vg(): Promise<[string, string]> {
  const name = `vgt${n++}`;
  const p = path.join(dir, `${name}.img`);
  writeFileSync(p, '');
  truncateSync(p, 20 * 1024 * 1024);
  const r = await runBin('tm', ['init', name, p, '--extent-size', '1M', '--metadata-size', '64K']);
  assert.is(r.exitCode, 0, r.stderr);
  return [name, p];
}
const hash = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

test('a mutator that sleeps is killed at --timeout: exit 1, nothing written', async () => {
  const [name, p] = await vg();
  const before = hash(p);
  const t0 = Date.now();
  assertOneLineError(await runBin('tm', ['update', name, p, '--timeout', '2', '--', MUT, 'x', '--sleep', '60']), 'tm', 1, /timed out after 2 s/);
  assert.ok(Date.now() - t0 < 30_000, `took ${Date.now() - t0} ms`);
  assert.is(hash(p), before);
});

test('a grandchild keeping the mutator\'s stdout open cannot stall past --timeout', async () => {
  const [name, p] = await vg();
  const before = hash(p);
  const t0 = Date.now();
  const r = await runBin('tm', ['update', name, p, '--timeout', '2', '--', 'sh', '-c', 'sleep 60 & cat']);
  assertOneLineError(r, 'tm', 1, /timed out/);
  assert.ok(Date.now() - t0 < 30_000);
  assert.is(hash(p), before);
});

test('a mutator that runs tm update on the same VG does not deadlock; the lock message names the holder', async () => {
  const [name, p] = await vg();
  const inner = `"${process.execPath}" "${binPath('tm')}" update ${name} "${p}" --timeout 1 -- lv-create y 1M`;
  const t0 = Date.now();
  const r = await runBin('tm', ['update', name, p, '--timeout', '20', '--', MUT, 'x', '--nested', inner]);
  assert.is(r.exitCode, 1, r.stderr);
  assert.match(r.stderr, /still held after 1 s by pid \d+ \(.*tm\.js update/);
  assert.ok(Date.now() - t0 < 30_000);
});

test('a --sync prepare phase that hangs times out and rolls back', async () => {
  const [name, p] = await vg();
  const r = await runBin('tm', ['update', name, p, '--timeout', '2', '--sync', 'test "$DVM_TM_PHASE" != prepare || sleep 60', '--', 'lv-create', 'a', '1M']);
  assertOneLineError(r, 'tm', 1, /timed out after 2 s; generation 2 rolled back/);
  const read = await runBin('tm', ['read', name, p]);
  assert.is(JSON.parse(read.stdout).vg.seqno, 1);
  assert.is((await runBin('tm', ['verify', name, p])).exitCode, 0);
});

test('a bad --timeout is a usage error', async () => {
  assertOneLineError(await runBin('tm', ['read', 'vg0', '/dev/null', '--timeout', 'soon']), 'tm', 2);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
