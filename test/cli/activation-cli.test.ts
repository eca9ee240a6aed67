// vol-activate and dmactivate as a user runs them: no root, no device-mapper
// (the kernel's state comes from --current files).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cliBattery, runBin, assertOneLineError } from '../helpers/cli.js';
import { validate } from '../../src/lib/schema.js';
import { envelope, LV, PV, VG_ID } from '../helpers/activation-fixtures.js';
import type { DmDoc } from '../../src/lib/dm-doc.js';
import type { DmProgram } from '../../src/lib/dm-program.js';

const dir = mkdtempSync(path.join(tmpdir(), 'dvm-activation-'));
const file = (name: string, content: unknown) => {
  const p = path.join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
};
const SCOPE = `DVM-${VG_ID}`;
const empty = file('empty.json', { format: 'dvm.dm/1', scope: SCOPE, devices: [] });
/** every PV missing: with --partial nothing needs a block device */
function allMissing() {
  const env = envelope();
  env.missing = [...PV];
  env.devices = {};
  return JSON.stringify(env);
}

cliBattery(test, 'vol-activate', { args: ['--all'] });
cliBattery(test, 'dmactivate', { args: ['--current', empty] });

test('vol-activate --all --partial prints the desired state', async () => {
  const r = await runBin('vol-activate', ['--all', '--partial'], { input: allMissing() });
  assert.is(r.exitCode, 0, r.stderr);
  const doc = validate<DmDoc>('dvm.dm/1', JSON.parse(r.stdout));
  assert.is(doc.scope, SCOPE);
  assert.equal(doc.devices.find((d) => d.name === 'vg--0-lin')!.table.map((l) => l.target), ['error', 'error']);
});

test('vol-activate --active reads the current state from --current', async () => {
  const cur = file('cur.json', { format: 'dvm.dm/1', scope: SCOPE, devices: [{ name: 'vg--0-str', uuid: `${SCOPE}-${LV.str}`, table: [] }] });
  const r = await runBin('vol-activate', ['--partial', '--current', cur], { input: allMissing() });
  assert.is(r.exitCode, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).devices.map((d: { name: string }) => d.name).sort(), ['vg--0-str', 'vg--0-str-missing_0_0', 'vg--0-str-missing_0_1']);
});

test('vol-activate: a missing PV without --partial fails (1); a PV that is a file is an environment error (4)', async () => {
  assertOneLineError(await runBin('vol-activate', ['--all'], { input: allMissing() }), 'vol-activate', 1, /missing/);
  const env = envelope();
  env.devices = { [PV[0]]: empty, [PV[1]]: empty, [PV[2]]: empty };
  assertOneLineError(await runBin('vol-activate', ['--all'], { input: JSON.stringify(env) }), 'vol-activate', 4, /not a block device/);
  assertOneLineError(await runBin('vol-activate', ['--all', '--active'], { input: allMissing() }), 'vol-activate', 2);
  assertOneLineError(await runBin('vol-activate', ['--all', '--lv', 'ghost', '--partial'], { input: allMissing() }), 'vol-activate', 1, /ghost/);
});

test('dmactivate plans from --current; honours --stage and DVM_TM_PHASE', async () => {
  const desired = (await runBin('vol-activate', ['--all', '--partial'], { input: allMissing() })).stdout;
  const r = await runBin('dmactivate', ['--current', empty], { input: desired });
  assert.is(r.exitCode, 0, r.stderr);
  const p = validate<DmProgram>('dvm.dmexec/1', JSON.parse(r.stdout));
  assert.is(p.scope, SCOPE);
  assert.ok(p.steps.length > 0);
  assert.ok(p.steps.every((s) => s.op === 'resume' || s.undo?.length), 'every create and load carries its own undo (a new device resume needs none: the undo of its create removes it)');
  assert.ok(p.steps.filter((s) => s.op === 'create').every((s) => s.undo![0].op === 'remove' && s.undo![0].name === s.name));
  const staged = await runBin('dmactivate', ['--current', empty], { input: desired, env: { DVM_TM_PHASE: 'prepare' } });
  assert.is(staged.exitCode, 0, staged.stderr);
  assertOneLineError(await runBin('dmactivate', ['--current', empty, '--stage'], { input: desired, env: { DVM_TM_PHASE: 'commit' } }), 'dmactivate', 2, /DVM_TM_PHASE/);
  assertOneLineError(await runBin('dmactivate', ['--current', empty], { input: desired, env: { DVM_TM_PHASE: 'soon' } }), 'dmactivate', 2, /DVM_TM_PHASE/);
});

test('dmactivate: converged → empty program', async () => {
  const desired = JSON.parse((await runBin('vol-activate', ['--all', '--partial'], { input: allMissing() })).stdout) as DmDoc;
  // the same devices, as the kernel would report them
  let minor = 0;
  const numbers = new Map(desired.devices.map((d) => [d.name, `253:${minor++}`]));
  const cur = file('converged.json', {
    ...desired,
    devices: desired.devices.map((d) => ({
      name: d.name,
      uuid: d.uuid,
      read_only: false,
      suspended: false,
      inactive_table: null,
      major: 253,
      minor: Number(numbers.get(d.name)!.split(':')[1]),
      table: d.table.map((l) => ({ ...l, params: l.params.replace(/dm:(\S+)/g, (_, n) => numbers.get(n)!) })),
    })),
  });
  const r = await runBin('dmactivate', ['--current', cur], { input: JSON.stringify(desired) });
  assert.is(r.exitCode, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).steps, []);
});

test('dmactivate: bad --current is 2 (unreadable) or 3 (not dvm.dm/1); desired outside the scope is 3', async () => {
  assertOneLineError(await runBin('dmactivate', ['--current', path.join(dir, 'nope.json')], { input: JSON.stringify({ format: 'dvm.dm/1', scope: SCOPE, devices: [] }) }), 'dmactivate', 2);
  assertOneLineError(await runBin('dmactivate', ['--current', file('junk.json', '{"format":"dvm.vg/1"}')], { input: JSON.stringify({ format: 'dvm.dm/1', scope: SCOPE, devices: [] }) }), 'dmactivate', 3);
  const outside = { format: 'dvm.dm/1', scope: SCOPE, devices: [{ name: 'x', uuid: 'LVM-x', table: [{ start: 0, length: 8, target: 'zero', params: '' }] }] };
  assertOneLineError(await runBin('dmactivate', ['--current', empty], { input: JSON.stringify(outside) }), 'dmactivate', 3, /outside scope/);
});

test('dmactivate without --current asks dmexec; without device-mapper that is exit 4', async () => {
  const r = await runBin('dmactivate', [], { input: JSON.stringify({ format: 'dvm.dm/1', scope: SCOPE, devices: [] }) });
  if (r.exitCode === 0) JSON.parse(r.stdout); // a machine with device-mapper: a program came back
  else assertOneLineError(r, 'dmactivate', 4, /dmexec/);
});

test.run();
