// tm and discover through their CLIs, on sparse files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync, truncateSync, openSync, writeSync, closeSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { cliBattery, runBin, assertOneLineError, ROOT } from '../helpers/cli.js';
import { validate } from '../../src/lib/schema.js';

const dir = mkdtempSync(path.join(tmpdir(), 'dvm-tm-cli-'));
const MUT = path.join(ROOT, 'test/fixtures/add-lv.js');
let n = 0;
function files(count: number, size = 20 * 1024 * 1024): string[] {
  const sub = path.join(dir, `set${n++}`);
  mkdirSync(sub, { recursive: true });
  return Array.from({ length: count }, (_, i) => {
    const p = path.join(sub, `pv${i}.img`);
    writeFileSync(p, '');
    truncateSync(p, size);
    return p;
  });
}
const snapshot = (ps: string[]) => ps.map((p) => readFileSync(p).subarray(0, 2 * 1024 * 1024).toString('base64'));
async function initVg(vg: string, ps: string[], extra: string[] = []) {
  const r = await runBin('tm', ['init', vg, ...ps, '--extent-size', '1M', '--metadata-size', '64K', ...extra]);
  assert.is(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout);
}

cliBattery(test, 'tm', {
  args: ['read', 'vg0'],
  // a mutator that fails: the PVs must not change by a single byte
  failing: async () => {
    const ps = files(2);
    await initVg('vgfail', ps);
    return { args: ['update', 'vgfail', ...ps, '--', 'false'], files: ps, code: 1 };
  },
});
cliBattery(test, 'discover', { readsStdin: false });

test('tm: init, read, update, history, read --seqno', async () => {
  const ps = files(2);
  const env0 = await initVg('vg0', ps);
  validate('dvm.envelope/1', env0);
  assert.is(env0.vg.seqno, 1);
  assert.is(env0.vg.pvs[0].pe_start, 2048, 'data starts at 1 MiB');
  const r1 = await runBin('tm', ['update', 'vg0', ...ps, '--', MUT, 'lv1']);
  assert.is(r1.exitCode, 0, r1.stderr);
  const env1 = JSON.parse(r1.stdout);
  assert.is(env1.vg.seqno, 2);
  assert.is(env1.vg.lvs[0].name, 'lv1');
  const rd = await runBin('tm', ['read', 'vg0'], { input: ps.join('\n') + '\n' });
  assert.is(rd.stdout, r1.stdout, 'read returns what update printed');
  const h = await runBin('tm', ['history', 'vg0', ...ps, '--json']);
  const hist = validate<{ generations: { seqno: number; description: string }[] }>('dvm.tm-history/1', JSON.parse(h.stdout));
  assert.equal(hist.generations.map((g) => g.seqno), [2, 1]);
  assert.match(hist.generations[0].description, /add-lv\.js lv1/);
  const old = await runBin('tm', ['read', 'vg0', ...ps, '--seqno', '1']);
  assert.equal(JSON.parse(old.stdout).vg, env0.vg);
  assertOneLineError(await runBin('tm', ['read', 'vg0', ...ps, '--seqno', '7']), 'tm', 1, 'generation');
  assert.is((await runBin('tm', ['verify', 'vg0', ...ps])).exitCode, 0);
});

test('tm: init refuses a dvm label, an LVM2 label and an ext4 signature without --force', async () => {
  const [a, b, c] = files(3);
  await initVg('vgA', [a]);
  assertOneLineError(await runBin('tm', ['init', 'vgB', a, '--metadata-size', '64K']), 'tm', 1, 'dvm PV label');
  const fd = openSync(b, 'r+');
  writeSync(fd, Buffer.from('LABELONE'), 0, 8, 512);
  closeSync(fd);
  assertOneLineError(await runBin('tm', ['init', 'vgB', b, '--metadata-size', '64K']), 'tm', 1, 'LVM2');
  const fd2 = openSync(c, 'r+');
  writeSync(fd2, Buffer.from([0x53, 0xef]), 0, 2, 1080);
  closeSync(fd2);
  assertOneLineError(await runBin('tm', ['init', 'vgB', c, '--metadata-size', '64K']), 'tm', 1, 'ext2/3/4');
  await initVg('vgB', [a, b, c], ['--force']);
});

test('tm: a misbehaving mutator changes nothing (fail, garbage, schema, VG id, double mapping)', async () => {
  const ps = files(2);
  await initVg('vg0', ps);
  await runBin('tm', ['update', 'vg0', ...ps, '--', MUT, 'lv1']);
  const before = snapshot(ps);
  const cases: [string[], number, string][] = [
    [['--fail'], 1, 'refused on purpose'],
    [['--garbage'], 3, 'not JSON'],
    [['--invalid'], 3, 'dvm.vg/1'],
    [['lv2', '--change-id'], 3, 'VG id'],
    [['lv2', '--double'], 3, 'mapped twice'],
  ];
  for (const [args, code, why] of cases) {
    const r = await runBin('tm', ['update', 'vg0', ...ps, '--', MUT, ...args]);
    assertOneLineError(r, 'tm', code, why);
    assert.equal(snapshot(ps), before, `${args}: nothing written`);
  }
  assertOneLineError(await runBin('tm', ['update', 'vg0', ...ps, '--', 'no-such-mutator-xyz']), 'tm', 1, 'mutator');
  assert.equal(snapshot(ps), before);
});

test('tm: --sync runs prepare then commit with the N+1 envelope; a failed prepare aborts with N', async () => {
  const ps = files(2);
  await initVg('vg0', ps);
  const log = path.join(dir, `sync${n++}.log`);
  // canonical JSON: "seqno" occurs once in an envelope (the VG's)
  const cmd = `echo "$DVM_TM_PHASE $(sed -n 's/.*"seqno":\\([0-9]*\\).*/\\1/p')" >> ${log}`;
  const r = await runBin('tm', ['update', 'vg0', ...ps, '--sync', cmd, '--', MUT, 'lv1']);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(JSON.stringify(readFileSync(log, 'utf8')), JSON.stringify('prepare 2\ncommit 2\n'));
  const before = (await runBin('tm', ['read', 'vg0', ...ps])).stdout;
  const bad = `${cmd}; [ "$DVM_TM_PHASE" != prepare ]`;
  const r2 = await runBin('tm', ['update', 'vg0', ...ps, '--sync', bad, '--', MUT, 'lv2']);
  assertOneLineError(r2, 'tm', 1, 'prepare');
  assert.is(JSON.stringify(readFileSync(log, 'utf8')), JSON.stringify('prepare 2\ncommit 2\nprepare 3\nabort 2\n'));
  assert.is((await runBin('tm', ['read', 'vg0', ...ps])).stdout, before, 'still generation 2');
  assert.is((await runBin('tm', ['verify', 'vg0', ...ps])).exitCode, 0);
});

test('tm: add and remove PVs', async () => {
  const [a, b, c] = files(3);
  await initVg('vg0', [a, b]);
  const r = await runBin('tm', ['add', 'vg0', c, '--dev', a, '--dev', b]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).vg.pvs.length, 3);
  assert.is((await runBin('tm', ['verify', 'vg0', a, b, c])).exitCode, 0);
  const u = await runBin('tm', ['update', 'vg0', a, b, c, '--', MUT, 'lv1']);
  const used = JSON.parse(u.stdout).vg.lvs[0].segments[0].areas[0].pv;
  const usedPath = JSON.parse(u.stdout).devices[used];
  assertOneLineError(await runBin('tm', ['remove', 'vg0', usedPath], { input: [a, b, c].join('\n') }), 'tm', 1, 'still holds');
  const rm = await runBin('tm', ['remove', 'vg0', c, '--dev', a, '--dev', b]);
  assert.is(rm.exitCode, 0, rm.stderr);
  assert.is(JSON.parse(rm.stdout).vg.pvs.length, 2);
  const d = await runBin('discover', ['--dir', path.dirname(a), 'vg0']);
  assert.equal(d.stdout.trim().split('\n'), [a, b], 'the removed PV is no longer discovered');
});

test('discover: --dir lists the VG for tm (pipe and xargs), JSON validates, clones are reported', async () => {
  const ps = files(2);
  await initVg('vgd', ps);
  const sub = path.dirname(ps[0]);
  const d = await runBin('discover', ['--dir', sub, 'vgd']);
  assert.is(d.exitCode, 0, d.stderr);
  assert.equal(d.stdout.trim().split('\n'), ps);
  const piped = await execa('sh', ['-c', `node ${ROOT}/bin/discover.js --dir ${sub} vgd | node ${ROOT}/bin/tm.js read vgd`]);
  const xargs = await execa('sh', ['-c', `node ${ROOT}/bin/discover.js --dir ${sub} vgd | xargs node ${ROOT}/bin/tm.js read vgd`]);
  assert.is(piped.stdout, xargs.stdout);
  assert.is(JSON.parse(piped.stdout).vg.name, 'vgd');
  const j = await runBin('discover', ['--dir', sub, '--json']);
  const doc = validate<{ vgs: { name: string; pvs: unknown[] }[] }>('dvm.discover/1', JSON.parse(j.stdout));
  assert.is(doc.vgs[0].pvs.length, 2);
  copyFileSync(ps[0], path.join(sub, 'clone.img'));
  assertOneLineError(await runBin('discover', ['--dir', sub, 'vgd']), 'discover', 1, 'cloned');
  const j2 = JSON.parse((await runBin('discover', ['--dir', sub, '--json'])).stdout);
  assert.is(j2.duplicates.length, 1);
  assert.is(j2.duplicates[0].paths.length, 2);
  assertOneLineError(await runBin('discover', ['--dir', sub, 'nosuchvg']), 'discover', 1, 'not found');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
