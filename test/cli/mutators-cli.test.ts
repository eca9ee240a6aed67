// The mutators through their bin/ shims: the shared battery, every error
// class with its exit code and nothing on stdout, and a small pipeline.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertOneLineError, cliBattery, runBin } from '../helpers/cli.js';
import { canonicalJson } from '../../src/lib/canonical-json.js';
import { findLv, lvExtents, type Vg } from '../../src/metadata-manip/model.js';
import { vgProblems } from '../helpers/vg-invariants.js';
import { emptyVg, PV } from '../helpers/vg-fixtures.js';

cliBattery(test, 'lv-create', { args: ['x', '1G'] });
cliBattery(test, 'lv-extend', { args: ['x', '+1G'] });
cliBattery(test, 'lv-reduce', { args: ['x', '-1G'] });
cliBattery(test, 'lv-remove', { args: ['x'] });
cliBattery(test, 'lv-rename', { args: ['x', 'y'] });
cliBattery(test, 'lv-change', { args: ['x', '--addtag', 't'] });
cliBattery(test, 'lv-snapshot', { args: ['x', 'y', '1e'] });
cliBattery(test, 'lv-merge', { args: ['x'] });
cliBattery(test, 'pv-change', { args: [PV(0), '--allocatable', 'n'] });

const doc = (vg: Vg) => canonicalJson(vg);
const base = emptyVg([10, 10]);

async function ok(tool: string, args: string[], vg: Vg): Promise<{ vg: Vg; stderr: string }> {
  const r = await runBin(tool, args, { input: doc(vg) });
  assert.is(r.exitCode, 0, `${tool} ${args.join(' ')}: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as Vg;
  assert.equal(vgProblems(out), []);
  assert.is(r.stdout, canonicalJson(out), 'canonical output');
  return { vg: out, stderr: r.stderr };
}

test('a pipeline: create (rounding noted on stderr), extend, reduce with a negative size, rename, remove', async () => {
  let { vg, stderr } = await ok('lv-create', ['data', '10M'], base);
  assert.is(stderr, 'lv-create: Rounding up size to full physical extent 12.00m\n');
  assert.is(vg.seqno, base.seqno, 'seqno is tm’s business');
  assert.is(vg.description, 'lv-create data 10M');
  ({ vg } = await ok('lv-extend', ['data', '+2e', '--pv', PV(1)], vg));
  assert.is(lvExtents(findLv(vg, 'data')!), 5);
  ({ vg } = await ok('lv-reduce', ['data', '-4M'], vg));
  assert.is(lvExtents(findLv(vg, 'data')!), 4);
  ({ vg } = await ok('lv-rename', ['data', 'archive'], vg));
  ({ vg } = await ok('pv-change', [PV(0), '--allocatable', 'n'], vg));
  assert.equal(vg.pvs[0].flags, []);
  ({ vg } = await ok('lv-remove', ['archive'], vg));
  assert.equal(vg.lvs, []);
});

test('lv-create --stripes/--mirrors/--pv on the command line', async () => {
  const { vg } = await ok('lv-create', ['s', '4e', '--stripes', '2', '--stripe-size', '128k', '--pv', PV(1), PV(0)], base);
  assert.is(findLv(vg, 's')!.segments[0].stripe_size, 256);
  const m = await ok('lv-create', ['m', '2e', '-m', '1'], base);
  assert.is(m.vg.lvs.length, 5);
});

const fail = async (tool: string, args: string[], code: number, contains: string | RegExp, input = doc(base)) => {
  const r = await runBin(tool, args, { input });
  assertOneLineError(r, tool, code, contains);
};

test('infeasible requests exit 1 with one line and no stdout', async () => {
  const used = (await ok('lv-create', ['a', '4e'], base)).vg;
  await fail('lv-create', ['b', '100e'], 1, /only 16 extents \(64\.00m\) free/, doc(used));
  await fail('lv-create', ['a', '1e'], 1, 'already exists', doc(used));
  await fail('lv-extend', ['nope', '+1e'], 1, 'no such logical volume', doc(used));
  await fail('lv-reduce', ['a', '-4e'], 1, 'below one extent', doc(used));
  await fail('lv-create', ['s', '3e', '--stripes', '3'], 1, 'number of stripes (3)');
  await fail('lv-rename', ['a', 'a2'], 1, 'no such logical volume');
  await fail('pv-change', ['nosuchpv0', '--allocatable', 'y'], 1, 'no such physical volume');
});

test('lv-change: tags added and deleted, kept sorted, shown by report -o +lv_tags; bad tags exit 2', async () => {
  let { vg } = await ok('lv-create', ['data', '1e'], base);
  ({ vg } = await ok('lv-change', ['data', '--addtag', 'tier=fast', '--addtag', '@backup', '--addtag', 'dvm:ds/1#a&b!'], vg));
  assert.equal(findLv(vg, 'data')!.tags, ['backup', 'dvm:ds/1#a&b!', 'tier=fast']);
  const env = JSON.stringify({ format: 'dvm.envelope/1', vg, devices: {}, missing: [] });
  const r = await runBin('report', ['-o', 'lv_name,lv_tags', '--noheadings'], { input: env });
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.stdout, '  data backup,dvm:ds/1#a&b!,tier=fast\n');
  const j = await runBin('report', ['--json', '-o', 'lv_name,lv_tags'], { input: env });
  assert.ok(j.stdout.includes('"lv_tags":["backup","dvm:ds/1#a&b!","tier=fast"]'), j.stdout);
  // additions first, then deletions, as lvchange does
  ({ vg } = await ok('lv-change', ['data', '--addtag', 'q', '--deltag', 'q', '--deltag', 'backup', '--deltag', 'absent'], vg));
  assert.equal(findLv(vg, 'data')!.tags, ['dvm:ds/1#a&b!', 'tier=fast']);
  ({ vg } = await ok('lv-change', ['data', '--deltag', 'tier=fast', '--deltag', 'dvm:ds/1#a&b!'], vg));
  const made = (await ok('lv-create', ['tagged', '1e', '--addtag', 'z', '--addtag', 'a'], vg)).vg;
  assert.equal(findLv(made, 'tagged')!.tags, ['a', 'z'], 'lv-create --addtag, in the same generation');
  await fail('lv-create', ['tagged', '1e', '--addtag', 'a b'], 2, 'invalid tag', doc(vg));
  assert.is(findLv(vg, 'data')!.tags, undefined, 'no tags, no list: the bytes of an untagged LV');
  await fail('lv-change', ['data', '--addtag', 'a,b'], 2, 'invalid tag', doc(vg));
  await fail('lv-change', ['data', '--addtag', 'x'.repeat(1025)], 2, 'invalid tag', doc(vg));
  await fail('lv-change', ['data', '--addtag', ''], 2, 'invalid tag', doc(vg));
  await fail('lv-change', ['data'], 2, 'nothing to change', doc(vg));
  await fail('lv-change', ['nope', '--addtag', 'a'], 1, 'no such logical volume', doc(vg));
  const many = { ...vg, lvs: [{ ...vg.lvs[0], tags: Array.from({ length: 128 }, (_, i) => `t${String(i).padStart(3, '0')}`) }] };
  await fail('lv-change', ['data', '--addtag', 'one-more'], 1, 'at most 128', doc(many));
  await fail('lv-change', ['data', '--addtag', 'a'], 3, 'tags', JSON.stringify({ ...vg, lvs: [{ ...vg.lvs[0], tags: ['bad tag'] }] }));
});

test('lv-snapshot, lv-merge and lv-remove NAME... on the command line', async () => {
  let { vg } = await ok('lv-create', ['data', '4e'], base);
  ({ vg } = await ok('lv-snapshot', ['data', 'snap', '50%ORIGIN', '--chunksize', '8k'], vg));
  assert.equal(findLv(vg, 'snap')!.snapshot, { origin: findLv(vg, 'data')!.id, chunk_size: 16 });
  assert.is(lvExtents(findLv(vg, 'snap')!), 2);
  await fail('lv-remove', ['data'], 1, "origin of snapshot 'snap'", doc(vg));
  await fail('lv-snapshot', ['snap', 's2', '1e'], 1, 'itself a snapshot', doc(vg));
  await fail('lv-snapshot', ['data', 's2'], 2, 'expected ORIGIN NAME SIZE', doc(vg));
  ({ vg } = await ok('lv-merge', ['snap'], vg));
  assert.is(findLv(vg, 'snap')!.snapshot!.merging, true);
  await fail('lv-remove', ['data', 'snap'], 1, 'merging', doc(vg));
  const two = (await ok('lv-create', ['other', '1e'], base)).vg;
  const both = (await ok('lv-create', ['more', '1e'], two)).vg;
  assert.equal((await ok('lv-remove', ['other', 'more'], both)).vg.lvs, []);
  await fail('lv-remove', [], 2, 'expected NAME', doc(both));
});

test('usage errors exit 2, bad documents exit 3', async () => {
  await fail('lv-create', ['x'], 2, 'expected NAME SIZE');
  await fail('lv-create', ['x', '12Q'], 2, 'invalid size');
  await fail('lv-create', ['x', '1e', '--stripes', 'two'], 2, '--stripes');
  await fail('lv-create', ['x_rmeta_3', '1e'], 2, 'reserved');
  await fail('lv-extend', ['x', '-1e'], 2, 'invalid size');
  await fail('pv-change', [PV(0), '--allocatable', 'maybe'], 2, 'y or n');
  const bad = { ...base, extent_size: 'big' };
  await fail('lv-create', ['x', '1e'], 3, 'extent_size', JSON.stringify(bad));
});

test.run();
