// dmexec against the real kernel device-mapper on loop devices.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { openSync, closeSync, existsSync, writeFileSync, unlinkSync, mkdtempSync, readdirSync, cpSync, chmodSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withLoops, readAt, writeAt, pattern, ourDmDevices, sh } from '../helpers/devices.js';
import { dmexec, dmname, createSteps, SCOPE, uuid, program } from '../helpers/dm.js';
import { tableLine } from '../../src/lib/dm-table.js';
import { runBin, assertOneLineError, ROOT } from '../helpers/cli.js';

const MiB = 1024 * 1024;

test('linear: data written through /dev/mapper/NAME lands at the right offset of the loop device', async () => {
  await withLoops(1, 16, async ([pv]) => {
    const name = dmname('lin');
    // 4 MiB of the PV starting at sector 4096 (2 MiB)
    const r = await dmexec(createSteps(name, [tableLine(0, 8192, 'linear', `${pv.mm} 4096`)]));
    assert.is(r.exitCode, 0, r.stderr);
    assert.ok(r.doc.ok);
    assert.ok(existsSync(`/dev/mapper/${name}`), 'dmexec made the node itself (no udev here)');
    assert.is(await sh('dmsetup', ['table', name]), `0 8192 linear ${pv.mm} 4096\n`);
    const data = pattern('linear', 64 * 1024);
    await writeAt(`/dev/mapper/${name}`, 1 * MiB, data);
    assert.ok((await readAt(pv.dev, 2 * MiB + 1 * MiB, data.length)).equals(data), 'at PV offset 2 MiB + 1 MiB');
    assert.ok((await readAt(`/dev/mapper/${name}`, 1 * MiB, data.length)).equals(data));
  });
});

test('striped: chunks alternate between the two loop devices', async () => {
  await withLoops(2, 16, async ([a, b]) => {
    const name = dmname('str');
    // 2 stripes, 64 KiB chunks (128 sectors), data from sector 2048 of each
    const r = await dmexec(createSteps(name, [tableLine(0, 16384, 'striped', `2 128 ${a.mm} 2048 ${b.mm} 2048`)]));
    assert.is(r.exitCode, 0, r.stderr);
    assert.is(await sh('dmsetup', ['table', name]), `0 16384 striped 2 128 ${a.mm} 2048 ${b.mm} 2048\n`);
    const c0 = pattern('chunk0', 64 * 1024);
    const c1 = pattern('chunk1', 64 * 1024);
    const c2 = pattern('chunk2', 64 * 1024);
    await writeAt(`/dev/mapper/${name}`, 0, Buffer.concat([c0, c1, c2]));
    assert.ok((await readAt(a.dev, 1 * MiB, c0.length)).equals(c0), 'chunk 0 on a');
    assert.ok((await readAt(b.dev, 1 * MiB, c1.length)).equals(c1), 'chunk 1 on b');
    assert.ok((await readAt(a.dev, 1 * MiB + 64 * 1024, c2.length)).equals(c2), 'chunk 2 on a, after chunk 0');
  });
});

test('an invalid table fails and its recovery branch removes the device it created', async () => {
  await withLoops(1, 8, async ([pv]) => {
    const name = dmname('bad');
    // linear beyond the end of an 8 MiB device is refused by the kernel at load
    const r = await dmexec(createSteps(name, [tableLine(0, 8192, 'linear', `${pv.mm} 999999999`)]));
    assert.is(r.exitCode, 1);
    assert.is(r.doc.ok, false);
    assert.is(r.doc.recovery.ran, true);
    assert.is(r.doc.recovery.ok, true);
    assert.is(r.doc.recovery.step, 1);
    assert.equal(r.doc.steps.map((s: any) => [s.op, s.ok, s.recovery]), [['create', true, false], ['load', false, false], ['remove', true, true]]);
    assert.is(r.doc.steps[1].error, 'EINVAL');
    assert.equal(await ourDmDevices(), [], 'dmsetup ls shows nothing left behind');
    assert.not.ok(existsSync(`/dev/mapper/${name}`));
    assert.match(r.stderr, /^dmexec: step 1 \(load\) failed/);
  });
});

test('an unknown target type fails at load and is recovered the same way', async () => {
  const name = dmname('unk');
  const r = await dmexec(createSteps(name, [tableLine(0, 8, 'nosuchtarget')]));
  assert.is(r.exitCode, 1);
  assert.is(r.doc.recovery.ok, true);
  assert.equal(await ourDmDevices(), []);
});

test('a failed resume runs its recovery branch', async () => {
  const name = dmname('res');
  // A device with no table, suspended, cannot be resumed (EINVAL): the branch removes it.
  const r = await dmexec([
    { op: 'create', name, uuid: uuid('res') },
    { op: 'suspend', name, on_error: [{ op: 'remove', name }] },
    { op: 'resume', name, on_error: [{ op: 'remove', name }] },
  ]);
  assert.is(r.exitCode, 1, r.stdout + r.stderr);
  const resume = r.doc.steps.find((s: any) => s.op === 'resume');
  assert.is(resume.ok, false);
  assert.ok(resume.errno > 0);
  assert.is(r.doc.recovery.ran, true);
  assert.is(r.doc.recovery.step, 2);
  assert.is(r.doc.recovery.ok, true);
  assert.equal(await ourDmDevices(), []);
});

test('rollback: a failed step runs its on_error, then the undo of every completed step, newest first', async () => {
  await withLoops(1, 8, async ([pv]) => {
    const keep = dmname('keep');
    const a = dmname('ra');
    const b = dmname('rb');
    const r0 = await dmexec(createSteps(keep, [tableLine(0, 2048, 'zero')]));
    assert.is(r0.exitCode, 0, r0.stderr);
    const r = await dmexec([
      { op: 'create', name: a, uuid: uuid('ra'), undo: [{ op: 'remove', name: a }] },
      { op: 'load', name: a, table: [{ start: 0, length: 2048, target: 'zero', params: '' }], on_error: [{ op: 'clear', name: a }], undo: [{ op: 'clear', name: a }] },
      { op: 'resume', name: a },
      { op: 'suspend', name: keep, undo: [{ op: 'resume', name: keep }] },
      { op: 'create', name: b, uuid: uuid('rb'), undo: [{ op: 'remove', name: b }] },
      // beyond the end of the 8 MiB loop device: the kernel refuses it
      { op: 'load', name: b, table: [{ start: 0, length: 8192, target: 'linear', params: `${pv.mm} 999999999` }], on_error: [{ op: 'clear', name: b }] },
      { op: 'resume', name: b },
    ]);
    assert.is(r.exitCode, 1, r.stderr);
    assert.is(r.doc.recovery.ran, true);
    assert.is(r.doc.recovery.ok, true);
    assert.is(r.doc.recovery.step, 5);
    assert.equal(
      r.doc.steps.filter((s: any) => s.recovery).map((s: any) => [s.op, s.name, s.index, s.branch, s.ok]),
      [['clear', b, 5, 'on_error', true], ['remove', b, 4, 'undo', true], ['resume', keep, 3, 'undo', true], ['clear', a, 1, 'undo', true], ['remove', a, 0, 'undo', true]],
    );
    assert.equal(await ourDmDevices(), [keep], 'dmsetup ls: nothing the program created is left');
    assert.match(await sh('dmsetup', ['info', keep]), /State:\s+ACTIVE/, 'what it suspended is resumed');
    assert.not.ok(existsSync(`/dev/mapper/${a}`) || existsSync(`/dev/mapper/${b}`), 'nodes gone too');
    assert.is((await dmexec([{ op: 'remove', name: keep }])).exitCode, 0);
  });
});

test('rollback of a planned deactivation: removed devices are re-created, their tables naming the re-created or the surviving devices', async () => {
  await withLoops(1, 8, async ([pv]) => {
    const [sa, sb, sc] = ['sa', 'sb', 'sc'].map(dmname);
    const desired = (devices: unknown[]) => JSON.stringify({ format: 'dvm.dm/1', scope: SCOPE, devices });
    const stack = [
      { name: sa, uuid: uuid('sa'), table: [{ start: 0, length: 2048, target: 'linear', params: `${pv.mm} 2048` }] },
      { name: sb, uuid: uuid('sb'), table: [{ start: 0, length: 2048, target: 'linear', params: `dm:${sa} 0` }] },
      { name: sc, uuid: uuid('sc'), table: [{ start: 0, length: 2048, target: 'linear', params: `dm:${sb} 0` }] },
    ];
    const plan = async (devices: unknown[]) => {
      const r = await runBin('dmactivate', [], { input: desired(devices) });
      assert.is(r.exitCode, 0, r.stderr);
      return r.stdout;
    };
    const up = await runBin('dmexec', [], { input: await plan(stack) });
    assert.is(up.exitCode, 0, up.stderr);
    const devOf = async (n: string) => (await sh('dmsetup', ['info', '-c', '--noheadings', '-o', 'major,minor', n])).trim();
    const saDev = await devOf(sa);
    const down = await plan([]);
    assert.equal(JSON.parse(down).steps.map((s: any) => `${s.op} ${s.name}`), [`remove ${sc}`, `remove ${sb}`, `remove ${sa}`]);
    // the bottom device is held open: its removal fails after sc and sb are gone
    const fd = openSync(`/dev/mapper/${sa}`, 'r');
    let r;
    try {
      r = await runBin('dmexec', [], { input: down });
    } finally {
      closeSync(fd);
    }
    assert.is(r.exitCode, 1, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.is(doc.recovery.step, 2);
    assert.is(doc.recovery.ok, true, r.stdout);
    assert.equal(doc.steps.filter((s: any) => s.recovery).map((s: any) => `${s.op} ${s.name} ${s.index}`), [`create ${sb} 1`, `load ${sb} 1`, `resume ${sb} 1`, `create ${sc} 0`, `load ${sc} 0`, `resume ${sc} 0`]);
    assert.equal((await ourDmDevices()).sort(), [sa, sb, sc].sort());
    // sa was never removed: sb's table names it by its old number (written in advance);
    // sb was re-created: sc's table names its new number (patched in the native call)
    const sbDev = await devOf(sb);
    assert.is(await sh('dmsetup', ['table', sb]), `0 2048 linear ${saDev} 0\n`);
    assert.is(await sh('dmsetup', ['table', sc]), `0 2048 linear ${sbDev} 0\n`);
    for (const n of [sa, sb, sc]) assert.match(await sh('dmsetup', ['info', n]), /State:\s+ACTIVE/);
    const again = await runBin('dmexec', [], { input: await plan([]) });
    assert.is(again.exitCode, 0, again.stderr);
    assert.equal(await ourDmDevices(), []);
  });
});

test('suspend, load, resume replaces a live table under a running writer without an I/O error', async () => {
  await withLoops(2, 64, async ([a, b]) => {
    const name = dmname('swap');
    const r0 = await dmexec(createSteps(name, [tableLine(0, 65536, 'linear', `${a.mm} 2048`)]));
    assert.is(r0.exitCode, 0, r0.stderr);
    const dir = path.dirname(a.file);
    const flag = path.join(dir, 'writing');
    const src = path.join(dir, 'w.bin');
    writeFileSync(src, Buffer.alloc(1024 * 1024, 'W'));
    writeFileSync(flag, '');
    // Writes 1 MiB at a time, O_DIRECT, until the flag goes: it spans the table swap.
    const writer = execa('sh', ['-c', `n=0; while [ -e ${flag} ]; do dd if=${src} of=/dev/mapper/${name} bs=64k oflag=direct conv=notrunc status=none || exit 1; n=$((n+1)); done; echo $n`], { reject: false });
    await new Promise((res) => setTimeout(res, 500));
    // the new table is staged first; nothing loads while suspended
    const r = await dmexec([
      { op: 'load', name, table: [{ start: 0, length: 65536, target: 'linear', params: `${b.mm} 2048` }] },
      { op: 'suspend', name, on_error: [{ op: 'clear', name }] },
      { op: 'resume', name, on_error: [{ op: 'clear', name }, { op: 'resume', name }] },
    ]);
    assert.is(r.exitCode, 0, r.stderr);
    await new Promise((res) => setTimeout(res, 500));
    unlinkSync(flag);
    const w = await writer;
    assert.is(w.exitCode, 0, `writer failed: ${w.stderr}`);
    assert.is(w.stderr, '');
    assert.ok(Number(w.stdout) >= 2, `the writer ran across the swap (${w.stdout} passes)`);
    assert.is(await sh('dmsetup', ['table', name]), `0 65536 linear ${b.mm} 2048\n`);
    assert.match(await sh('dmsetup', ['info', '-c', '--noheadings', '-o', 'attr', name]), /^L--w/);
    assert.ok((await readAt(a.dev, 1 * MiB, 4096)).equals(Buffer.alloc(4096, 'W')), 'written through the old table');
    assert.ok((await readAt(b.dev, 1 * MiB, 4096)).equals(Buffer.alloc(4096, 'W')), 'and through the new one');
  });
});

test('removing an open device fails cleanly with EBUSY in the result', async () => {
  const name = dmname('busy');
  const r0 = await dmexec(createSteps(name, [tableLine(0, 2048, 'zero')]));
  assert.is(r0.exitCode, 0, r0.stderr);
  const fd = openSync(`/dev/mapper/${name}`, 'r');
  try {
    const r = await dmexec([{ op: 'remove', name, retries: 2 }]);
    assert.is(r.exitCode, 1);
    assert.is(r.doc.ok, false);
    assert.is(r.doc.steps[0].error, 'EBUSY');
    assert.is(r.doc.steps[0].errno, 16);
    assertOneLineError({ ...r, stdout: '' }, 'dmexec', 1, /EBUSY/);
    assert.equal(await ourDmDevices(), [name], 'still there');
  } finally {
    closeSync(fd);
  }
  const r2 = await dmexec([{ op: 'remove', name }]);
  assert.is(r2.exitCode, 0, r2.stderr);
  assert.equal(await ourDmDevices(), []);
  assert.not.ok(existsSync(`/dev/mapper/${name}`), 'node removed with the device');
});

test('--query agrees with dmsetup table and dmsetup info', async () => {
  await withLoops(1, 16, async ([pv]) => {
    const low = dmname('qlow');
    const top = dmname('qtop');
    const r = await dmexec([
      ...createSteps(low, [tableLine(0, 8192, 'linear', `${pv.mm} 2048`)]),
      ...createSteps(top, [tableLine(0, 4096, 'linear', `dm:${low} 0`), tableLine(4096, 4096, 'zero')]),
      { op: 'load', name: top, table: [{ start: 0, length: 8192, target: 'linear', params: `dm:${low} 0` }] },
      { op: 'suspend', name: top },
    ]);
    assert.is(r.exitCode, 0, r.stderr);
    // Open counts are not dvm's to control: any process on the machine (the
    // other shard's lvm or blkid, udev) may hold a device open for a moment,
    // which only ever raises the count. So what is compared exactly is what
    // dvm controls (tables, numbers, uuid, suspended, inactive slot); the open
    // count must cover the holders sysfs lists (the upper table holds the
    // lower device), and must equal dmsetup's at some moment (the decoding).
    const q = await runBin('dmexec', ['--query', '--scope', SCOPE]);
    assert.is(q.exitCode, 0, q.stderr);
    const doc = JSON.parse(q.stdout);
    assert.is(doc.format, 'dvm.dm/1');
    assert.equal(doc.devices.map((d: any) => d.name), [low, top]);
    const holders = (d: any) => readdirSync(`/sys/dev/block/${d.major}:${d.minor}/holders`);
    for (const d of doc.devices) {
      const table = await sh('dmsetup', ['table', d.name]);
      // dmsetup prints a space after the target even when params are empty
      const norm = (t: string) => t.split('\n').map((l) => l.trimEnd()).join('\n');
      assert.is(d.table.map((l: any) => `${l.start} ${l.length} ${l.target}${l.params ? ' ' + l.params : ''}\n`).join(''), norm(table));
      const [maj, min, , attr, uu] = (await sh('dmsetup', ['info', '-c', '--noheadings', '--separator', ',', '-o', 'major,minor,open,attr,uuid', d.name])).trim().split(',');
      assert.is(d.major, Number(maj));
      assert.is(d.minor, Number(min));
      assert.is(d.uuid, uu);
      assert.is(d.suspended, attr[2] === 's', `suspended matches attr ${attr}`);
      assert.is(d.inactive_table !== null, attr[1] === 'I', `inactive table matches attr ${attr}`);
      assert.ok(d.open_count >= holders(d).length, `open count ${d.open_count} covers the holders ${holders(d)}`);
    }
    const [lowDev, t] = doc.devices;
    assert.equal(holders(lowDev), [`dm-${t.minor}`], 'the lower device is held by the upper table');
    assert.ok(lowDev.open_count >= 1, 'held open by the upper table');
    assert.is(t.suspended, true);
    assert.is(t.table[0].params, `${lowDev.major}:${lowDev.minor} 0`, 'dm: reference resolved to the new device');
    assert.equal(t.inactive_table, [{ start: 0, length: 8192, target: 'linear', params: `${lowDev.major}:${lowDev.minor} 0` }]);
    // the decoded open count equals dmsetup's while nobody else holds the device
    let agreed = false;
    for (let attempt = 0; attempt < 20 && !agreed; attempt++) {
      const again = JSON.parse((await runBin('dmexec', ['--query', '--scope', SCOPE])).stdout).devices[0].open_count;
      const open = Number((await sh('dmsetup', ['info', '-c', '--noheadings', '-o', 'open', low])).trim());
      agreed = again === open;
      if (!agreed) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(agreed, 'dmexec --query and dmsetup info agree on the open count at some moment');
    assert.is(await sh('dmsetup', ['table', '--inactive', top]), `0 8192 linear ${doc.devices[0].major}:${doc.devices[0].minor} 0\n`);
    // a scope that matches nothing gives an empty list, not an error
    const none = JSON.parse((await runBin('dmexec', ['--query', '--scope', `${SCOPE}-nothing`])).stdout);
    assert.equal(none.devices, []);
  });
});

test('the result reports the bytes locked in memory while the program ran (both lock modes)', async () => {
  for (const mode of ['ranges', 'mlockall']) {
    const name = dmname(`lock-${mode}`);
    const steps = [...createSteps(name, [tableLine(0, 8, 'zero')]), { op: 'remove', name }];
    const r = await runBin('dmexec', ['--lock', mode], { input: program(steps) });
    assert.is(r.exitCode, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.is(doc.lock, mode);
    assert.ok(doc.locked_bytes > 64 * 1024, `locked ${doc.locked_bytes} bytes`);
    console.log(`  dmexec --lock ${mode}: VmLck ${(doc.locked_bytes / MiB).toFixed(1)} MiB`);
  }
});

test('rename moves the device and its node; message reaches the target', async () => {
  const a = dmname('rn-a');
  const b = dmname('rn-b');
  const r = await dmexec([...createSteps(a, [tableLine(0, 8, 'zero')]), { op: 'rename', name: a, new_name: b }]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.equal(await ourDmDevices(), [b]);
  assert.ok(existsSync(`/dev/mapper/${b}`));
  assert.not.ok(existsSync(`/dev/mapper/${a}`));
  // zero has no message handler: the kernel says so, and the step fails cleanly
  const m = await dmexec([{ op: 'message', name: b, message: 'hello' }]);
  assert.is(m.exitCode, 1);
  assert.ok(m.doc.steps[0].errno > 0);
  const rm = await dmexec([{ op: 'remove', name: b }]);
  assert.is(rm.exitCode, 0);
});

test('a program that names a foreign device is refused before any change (exit 3)', async () => {
  const foreign = `${dmname('foreign')}`;
  await execa('dmsetup', ['--noudevsync', '--noudevrules', 'create', foreign, '-u', 'LVM-not-ours', '--table', '0 8 zero']);
  try {
    const r = await dmexec([{ op: 'create', name: dmname('mine'), uuid: uuid('mine') }, { op: 'remove', name: foreign }]);
    assertOneLineError(r, 'dmexec', 3, /outside scope/);
    assert.equal(await ourDmDevices(), [foreign], 'nothing created, foreign device untouched');
  } finally {
    await execa('dmsetup', ['--noudevsync', '--noudevrules', 'remove', foreign], { reject: false });
  }
});

test('dmexec without root exits 4 with one line', async () => {
  // The checkout may sit where only root can enter (any clone under /root,
  // mode 0700): run a copy of what the tool needs from a directory everyone can read.
  const copy = mkdtempSync(path.join(os.tmpdir(), 'dvm-nonroot-'));
  try {
    for (const part of ['package.json', 'bin', 'dist/src', 'dist/dvm.cjs', 'build/Release']) cpSync(path.join(ROOT, part), path.join(copy, part), { recursive: true });
    chmodSync(copy, 0o755);
    const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, path.join(copy, 'bin/dmexec.js'), '--query'], { reject: false, cwd: '/' });
    assert.is(r.exitCode, 4, String(r.stderr));
    assert.match(String(r.stderr), /^dmexec: .*root/);
    assert.is(String(r.stderr).trim().split('\n').length, 1);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});

test.run();
