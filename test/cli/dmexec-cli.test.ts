// dmexec without a kernel: the CLI battery, bad programs rejected before any
// ioctl (exit 3), and exit 4 where there is no usable device-mapper.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cliBattery, runBin, assertOneLineError } from '../helpers/cli.js';
import { checkProgram } from '../../src/dmexec/program.js';
import type { DmProgram } from '../../src/lib/dm-program.js';
import { compileProgram } from '../../src/dmexec/compile.js';
import { readHeader } from '../../src/dmexec/layout.js';
import { ToolError } from '../../src/lib/errors.js';

cliBattery(test, 'dmexec');

const zero = (length = 8, start = 0) => ({ start, length, target: 'zero', params: '' });
const prog = (steps: unknown[], scope = 'DVM-test') => JSON.stringify({ format: 'dvm.dmexec/1', scope, steps });

const bad: [string, string, RegExp][] = [
  ['malformed JSON', '{"format": "dvm.dmexec/1", "steps": [', /not JSON/],
  ['an unknown op', prog([{ op: 'explode', name: 'a' }]), /op/],
  ['a name over 127 bytes', prog([{ op: 'create', name: 'x'.repeat(128), uuid: 'DVM-test-1' }]), /name/],
  ["a name containing '/'", prog([{ op: 'resume', name: 'a/b' }]), /name/],
  ['the name control', prog([{ op: 'remove', name: 'control' }]), /name/],
  ['overlapping table lines', prog([{ op: 'load', name: 'a', table: [zero(8), zero(8, 4)] }]), /overlaps/],
  ['a gap between table lines', prog([{ op: 'load', name: 'a', table: [zero(8), zero(8, 16)] }]), /gap/],
  ['a table not starting at 0', prog([{ op: 'load', name: 'a', table: [zero(8, 8)] }]), /gap/],
  ['a fractional length', prog([{ op: 'load', name: 'a', table: [zero(8.5)] }]), /length/],
  ['a negative start', prog([{ op: 'load', name: 'a', table: [zero(8, -8)] }]), /start/],
  ['a create outside the scope', prog([{ op: 'create', name: 'a', uuid: 'LVM-foreign' }]), /outside scope/],
  ['a uuid that only extends the scope string (DVM-test2 is not DVM-test)', prog([{ op: 'create', name: 'a', uuid: 'DVM-test2-a' }]), /outside scope/],
  ['nested recovery branches', prog([{ op: 'resume', name: 'a', on_error: [{ op: 'remove', name: 'a', on_error: [] }] }]), /on_error/],
  ['an unknown field', prog([{ op: 'resume', name: 'a', force: true }]), /steps\/0/],
  ['a missing scope', JSON.stringify({ format: 'dvm.dmexec/1', steps: [] }), /scope/],
];
for (const [what, input, re] of bad) {
  test(`dmexec rejects ${what} with exit 3 before touching the kernel`, async () => {
    const r = await runBin('dmexec', [], { input });
    assertOneLineError(r, 'dmexec', 3, re);
  });
  test(`dmexec --dry-run rejects ${what} too`, async () => {
    const r = await runBin('dmexec', ['--dry-run'], { input });
    assertOneLineError(r, 'dmexec', 3, re);
  });
}

test('dmexec --dry-run prints the steps it would run and touches nothing', async () => {
  const r = await runBin('dmexec', ['--dry-run'], { input: prog([{ op: 'create', name: 'a', uuid: 'DVM-test-a' }, { op: 'load', name: 'a', table: [zero()] }]) });
  assert.is(r.exitCode, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.is(doc.format, 'dvm.dmexec-result/1');
  assert.is(doc.dry_run, true);
  assert.equal(doc.steps.map((s: { op: string; ok: unknown }) => [s.op, s.ok]), [['create', null], ['load', null]]);
});

test('dmexec exits 4 with one line where device-mapper is not usable (no dm, or not root)', async () => {
  if (process.env.DVM_IN_VM) return; // in the VM dm works: the integration suite covers it
  const r = await runBin('dmexec', [], { input: prog([{ op: 'create', name: 'a', uuid: 'DVM-test-a' }]) });
  assertOneLineError(r, 'dmexec', 4, /device-mapper|root/);
  const q = await runBin('dmexec', ['--query']);
  assertOneLineError(q, 'dmexec', 4, /device-mapper|root/);
});

test('dmexec --scope without --query is a usage error', async () => {
  assertOneLineError(await runBin('dmexec', ['--scope', 'DVM-']), 'dmexec', 2, /--scope goes with --query/);
});

test('compile: dm: references to devices created in the program become native patches', () => {
  const p: DmProgram = {
    format: 'dvm.dmexec/1',
    scope: 'DVM-t',
    steps: [
      { op: 'create', name: 'low', uuid: 'DVM-t-low' },
      { op: 'load', name: 'low', table: [{ start: 0 as never, length: 8 as never, target: 'zero', params: '' }] },
      { op: 'create', name: 'top', uuid: 'DVM-t-top' },
      { op: 'load', name: 'top', table: [{ start: 0 as never, length: 8 as never, target: 'linear', params: 'dm:low 0' }], on_error: [{ op: 'remove', name: 'top' }] },
    ],
  };
  checkProgram(p, () => null);
  const c = compileProgram(p, () => null);
  assert.is(c.mainCount, 4);
  assert.is(c.ops.length, 5, 'the recovery step is laid out after the main steps');
  assert.is(c.ops[3].branchStart, 4);
  assert.is(c.ops[3].branchCount, 1);
  const [offset, width, source] = c.ops[3].patches;
  assert.is(source, 0, 'patched from the CREATE of low');
  assert.is(width, 12);
  assert.is(c.ops[3].buf.toString('utf8', offset, offset + width + 2), ' '.repeat(12) + ' 0');
  assert.is(readHeader(c.ops[3].buf).name, 'top');
});

test('compile: references to existing devices resolve to major:minor at once', () => {
  const p: DmProgram = { format: 'dvm.dmexec/1', scope: 'DVM-t', steps: [{ op: 'load', name: 'top', table: [{ start: 0 as never, length: 8 as never, target: 'linear', params: 'dm:low 0' }] }] };
  const lookup = (n: string) => (n === 'low' ? { uuid: 'DVM-t-low', major: 253, minor: 4 } : n === 'top' ? { uuid: 'DVM-t-top', major: 253, minor: 5 } : null);
  const c = compileProgram(p, lookup);
  assert.equal(c.ops[0].patches, []);
  assert.ok(c.ops[0].buf.includes(Buffer.from('253:4 0\0')));
});

test('compile: undo lists follow the main steps; a reference to a device the rollback re-creates is patched, with its old number as fallback', () => {
  const zero = [{ start: 0 as never, length: 8 as never, target: 'zero', params: '' }];
  const p: DmProgram = {
    format: 'dvm.dmexec/1',
    scope: 'DVM-t',
    steps: [
      { op: 'remove', name: 'top', undo: [{ op: 'create', name: 'top', uuid: 'DVM-t-top' }, { op: 'load', name: 'top', table: [{ start: 0 as never, length: 8 as never, target: 'linear', params: 'dm:low 0' }] }, { op: 'resume', name: 'top' }] },
      { op: 'remove', name: 'low', undo: [{ op: 'create', name: 'low', uuid: 'DVM-t-low' }, { op: 'load', name: 'low', table: zero }, { op: 'resume', name: 'low' }] },
      { op: 'create', name: 'x', uuid: 'DVM-t-x', on_error: [{ op: 'remove', name: 'x' }] },
    ],
  };
  const lookup = (n: string) => (n === 'low' ? { uuid: 'DVM-t-low', major: 253, minor: 4 } : n === 'top' ? { uuid: 'DVM-t-top', major: 253, minor: 5 } : null);
  checkProgram(p, lookup);
  const c = compileProgram(p, lookup);
  assert.is(c.mainCount, 3);
  assert.is(c.ops.length, 10);
  assert.equal([c.ops[0].undoStart, c.ops[0].undoCount, c.ops[1].undoStart, c.ops[1].undoCount], [3, 3, 6, 3]);
  assert.equal([c.ops[2].branchStart, c.ops[2].branchCount, c.ops[2].undoCount], [9, 1, 0]);
  assert.equal(c.meta.slice(3).map((m) => [m.index, m.branch]), [[0, 'undo'], [0, 'undo'], [0, 'undo'], [1, 'undo'], [1, 'undo'], [1, 'undo'], [2, 'on_error']]);
  // the rollback runs undo(1) before undo(0): top's table names the low that undo(1) re-creates
  const [offset, width, source] = c.ops[4].patches;
  assert.is(source, 6, 'patched from the CREATE in undo(1)');
  assert.is(c.ops[4].buf.toString('utf8', offset, offset + width + 2), '253:4'.padEnd(12, ' ') + ' 0', 'and if undo(1) never ran, low is still 253:4');
  assert.throws(() => checkProgram({ ...p, steps: [{ op: 'create', name: 'x', uuid: 'DVM-t-x', undo: [{ op: 'remove', name: 'x', undo: [] }] }] }, null), /cannot have their own/);
});

test('check: a program may not touch or refer to a device outside its scope', () => {
  const lookup = (n: string) => (n === 'foreign' ? { uuid: 'LVM-xyz', major: 253, minor: 9 } : null);
  const steps: DmProgram['steps'][] = [
    [{ op: 'remove', name: 'foreign' }],
    [{ op: 'create', name: 'a', uuid: 'DVM-t-a', on_error: [{ op: 'remove', name: 'foreign' }] }],
    [{ op: 'rename', name: 'a', new_name: 'foreign' }],
  ];
  for (const s of steps) {
    assert.throws(() => checkProgram({ format: 'dvm.dmexec/1', scope: 'DVM-t', steps: s }, lookup), (e: unknown) => e instanceof ToolError && e.exitCode === 3 && /outside scope/.test(e.message));
  }
  assert.throws(
    () => checkProgram({ format: 'dvm.dmexec/1', scope: 'DVM-t', steps: [{ op: 'load', name: 'a', table: [{ start: 0 as never, length: 8 as never, target: 'linear', params: 'dm:nowhere 0' }] }] }, lookup),
    /unresolved/,
  );
});

test.run();
