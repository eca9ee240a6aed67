// Issue 17 items 3, 6 and 9: every consumer of dvm.vg/1 or dvm.envelope/1 runs
// the VG's semantic checks on what it reads (exit 3 naming the problem), the
// checks refuse sub-LV cycles, and dmexec refuses deep nesting and
// out-of-range sectors before any ioctl, --dry-run included.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalJson } from '../../src/lib/canonical-json.js';
import type { Envelope } from '../../src/lib/vg-types.js';
import { assertOneLineError, runBin } from '../helpers/cli.js';
import { envelope, LV, PV } from '../helpers/activation-fixtures.js';

const doc = (x: unknown) => canonicalJson(x);

/** The fixture with lin's first extents also given to a new LV: passes the schema, fails the checks. */
function overlapping(): Envelope {
  const env = envelope();
  env.vg.lvs.push({ id: 'LVdup00000000000000000000000000A', name: 'dup', flags: [], segments: [{ start_extent: 0, extent_count: 1, type: 'linear', areas: [{ pv: PV[0], pe: 0 }] }] });
  return env;
}
/** mir_rimage_0 maps onto mir itself: a cycle through a raid1 image. */
function cyclic(): Envelope {
  const env = envelope();
  const img = env.vg.lvs.find((l) => l.id === LV.img0)!;
  img.segments = [{ start_extent: 0, extent_count: 3, type: 'linear', areas: [{ lv: LV.mir, le: 0 }] }];
  return env;
}
function withRegion(region: number): Envelope {
  const env = envelope();
  env.vg.lvs.find((l) => l.id === LV.mir)!.segments[0].region_size = region;
  return env;
}

for (const [tool, args] of [['vol-activate', ['--all']], ['report', []]] as const) {
  test(`${tool}: an envelope with an extent mapped twice exits 3 naming it`, async () => {
    assertOneLineError(await runBin(tool, [...args], { input: doc(overlapping()) }), tool, 3, /mapped twice/);
  });
  test(`${tool}: an envelope whose sub-LVs form a cycle exits 3`, async () => {
    assertOneLineError(await runBin(tool, [...args], { input: doc(cyclic()) }), tool, 3, /cycle/);
  });
  test(`${tool}: an envelope naming a device for a PV the VG lacks exits 3`, async () => {
    const env = envelope();
    env.devices['PVid000000000000000000000000000X'] = '/dev/loop9';
    assertOneLineError(await runBin(tool, [...args], { input: doc(env) }), tool, 3, /not in the VG/);
  });
}

test('vol-activate: region_size 3 * 2^32 is refused (the 32-bit & let it through)', async () => {
  const r = await runBin('vol-activate', ['--all'], { input: doc(withRegion(12884901888)) });
  assertOneLineError(r, 'vol-activate', 3);
});

test('vol-activate: region_size 1e308 is refused, never printed as a table parameter', async () => {
  const text = doc(withRegion(4096)).replace('"region_size":4096', '"region_size":1e308');
  const r = await runBin('vol-activate', ['--all'], { input: text });
  assertOneLineError(r, 'vol-activate', 3, /region_size/);
});

test('vol-activate: a valid envelope still activates (the checks do not refuse good input)', async () => {
  const r = await runBin('vol-activate', ['--all', '--current', '/dev/null'], { input: doc(envelope()) });
  // /dev/loopN may not exist here: the point is that the input checks passed (exit 4 names the device, not the input)
  assert.ok(r.exitCode === 0 || (r.exitCode === 4 && /PV device/.test(r.stderr)), r.stderr);
});

for (const tool of ['lv-create', 'lv-remove', 'lv-rename', 'lv-extend']) {
  const args: Record<string, string[]> = { 'lv-create': ['new', '4M'], 'lv-remove': ['lin'], 'lv-rename': ['lin', 'lin2'], 'lv-extend': ['lin', '+4M'] };
  test(`${tool}: a dvm.vg/1 with a sub-LV cycle exits 3 before any change`, async () => {
    assertOneLineError(await runBin(tool, args[tool], { input: doc(cyclic().vg) }), tool, 3, /cycle/);
  });
  test(`${tool}: a dvm.vg/1 with an extent mapped twice exits 3`, async () => {
    assertOneLineError(await runBin(tool, args[tool], { input: doc(overlapping().vg) }), tool, 3, /mapped twice/);
  });
}

test('lv-remove: a self-referencing LV is refused on input', async () => {
  const env = envelope();
  env.vg.lvs[0].segments = [{ start_extent: 0, extent_count: 3, type: 'linear', areas: [{ lv: LV.lin, le: 0 }] }];
  assertOneLineError(await runBin('lv-remove', ['lin'], { input: doc(env.vg) }), 'lv-remove', 3);
});

// ---- dmexec (item 9) ----
const SCOPE = 'DVM-test0001';
function nested(depth: number): string {
  let step = `{"op":"resume","name":"x"}`;
  for (let i = 0; i < depth; i++) step = `{"op":"resume","name":"x","on_error":[${step}]}`;
  return `{"format":"dvm.dmexec/1","scope":"${SCOPE}","steps":[${step}]}`;
}

for (const depth of [3, 700, 100_000]) {
  test(`dmexec --dry-run: on_error nested ${depth} levels deep exits 3 before any ioctl`, async () => {
    assertOneLineError(await runBin('dmexec', ['--dry-run'], { input: nested(depth) }), 'dmexec', 3);
  });
}

for (const sector of ['1e20', '9007199254740993', '-0.5']) {
  test(`dmexec --dry-run: a message step with sector ${sector} exits 3`, async () => {
    const text = `{"format":"dvm.dmexec/1","scope":"${SCOPE}","steps":[{"op":"message","name":"x","sector":${sector},"message":"hi"}]}`;
    assertOneLineError(await runBin('dmexec', ['--dry-run'], { input: text }), 'dmexec', 3, /sector/);
  });
}

test.run();
