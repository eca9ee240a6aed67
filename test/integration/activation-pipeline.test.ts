// vol-activate --all | dmactivate | dmexec from an envelope, on loop devices:
// tables, data, idempotence, deactivation that spares foreign devices, and the
// same tables as LVM2 makes for the same layout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync, mkdirSync } from 'node:fs';
import { execa } from 'execa';
import { binPath } from '../helpers/cli.js';
import { activate, assertNothingSuspended, devNum, dmInfo, dmTables, dropCaches, ids, lvmLikeEnvelope, makeLoops, namedTables, readAt, sh, writeAt } from '../helpers/vm-dm.js';

const VG = 'vgact';
let devs: string[] = [];
let ours = new Map<string, string[]>();

test.before(async () => {
  ({ devs } = await makeLoops(3));
});
test.after(async () => {
  for (const n of ['foreign', 'trap']) await sh('dmsetup', ['remove', '--retry', n]).catch(() => {});
  for (const d of devs) await sh('losetup', ['-d', d]).catch(() => {});
});

test('vol-activate --all | dmactivate | dmexec activates a VG of linear, striped and raid1 LVs', async () => {
  const env = lvmLikeEnvelope(VG, devs);
  const node = process.execPath;
  const cmd = `${node} ${binPath('vol-activate')} --all | ${node} ${binPath('dmactivate')} | ${node} ${binPath('dmexec')}`;
  const r = await execa('sh', ['-c', cmd], { input: JSON.stringify(env), reject: false });
  assert.is(r.exitCode, 0, String(r.stderr));
  assert.ok(JSON.parse(String(r.stdout)).ok, 'dmexec result ok');
  const [a, b, c] = devs.map(devNum);
  const t = await dmTables();
  assert.equal(t.get(`${VG}-lin`), [`0 16384 linear ${a} 2048`]);
  assert.equal(t.get(`${VG}-str`), [`0 32768 striped 2 128 ${a} 18432 ${b} 2048`]);
  assert.equal(t.get(`${VG}-mir_rmeta_0`), [`0 8192 linear ${b} 18432`]);
  assert.equal(t.get(`${VG}-mir_rimage_0`), [`0 24576 linear ${b} 26624`]);
  assert.equal(t.get(`${VG}-mir_rmeta_1`), [`0 8192 linear ${c} 2048`]);
  assert.equal(t.get(`${VG}-mir_rimage_1`), [`0 24576 linear ${c} 10240`]);
  const num = new Map((await dmInfo()).map((d) => [d.name, d.dev]));
  const n = (x: string) => num.get(`${VG}-${x}`);
  assert.equal(t.get(`${VG}-mir`), [`0 24576 raid raid1 3 0 region_size 4096 2 ${n('mir_rmeta_0')} ${n('mir_rimage_0')} ${n('mir_rmeta_1')} ${n('mir_rimage_1')}`]);
  for (const d of await dmInfo()) if (d.name.startsWith(VG)) assert.ok(d.uuid.startsWith(`DVM-${ids.vg}-`), d.uuid);
  await assertNothingSuspended('after activation', VG);
  ours = await namedTables(`${VG}-`);
});

test('data written to each LV lands where the table says and reads back after reactivation', async () => {
  const MiB = 1 << 20;
  const lin = writeAt(`/dev/mapper/${VG}-lin`, 3 * MiB, 64 * 1024);
  const str0 = writeAt(`/dev/mapper/${VG}-str`, 0, 64 * 1024); // first chunk: PV0
  const str1 = writeAt(`/dev/mapper/${VG}-str`, 64 * 1024, 64 * 1024); // second chunk: PV1
  const mir = writeAt(`/dev/mapper/${VG}-mir`, 5 * MiB, 64 * 1024);
  await dropCaches();
  assert.ok(readAt(devs[0], 2048 * 512 + 3 * MiB, lin.length).equals(lin), 'lin on PV0 after pe_start');
  assert.ok(readAt(devs[0], 18432 * 512, str0.length).equals(str0), 'stripe 0 on PV0');
  assert.ok(readAt(devs[1], 2048 * 512, str1.length).equals(str1), 'stripe 1 on PV1');
  assert.ok(readAt(devs[1], 26624 * 512 + 5 * MiB, mir.length).equals(mir), 'mirror leg 0');
  assert.ok(readAt(devs[2], 10240 * 512 + 5 * MiB, mir.length).equals(mir), 'mirror leg 1');
  // deactivate everything, activate again, read through the LVs
  const off = activate(lvmLikeEnvelope(VG, devs), { deactivate: ['lin', 'str', 'mir'] });
  assert.ok(off.result.ok);
  assert.not.ok((await dmInfo()).some((d) => d.name.startsWith(`${VG}-`)), 'all gone');
  const on = activate(lvmLikeEnvelope(VG, devs), { all: true });
  assert.ok(on.result.ok);
  await dropCaches();
  assert.ok(readAt(`/dev/mapper/${VG}-lin`, 3 * MiB, lin.length).equals(lin));
  assert.ok(readAt(`/dev/mapper/${VG}-str`, 0, str0.length).equals(str0));
  assert.ok(readAt(`/dev/mapper/${VG}-str`, 64 * 1024, str1.length).equals(str1));
  assert.ok(readAt(`/dev/mapper/${VG}-mir`, 5 * MiB, mir.length).equals(mir));
});

test('running the same activation twice gives an empty program the second time', async () => {
  const again = activate(lvmLikeEnvelope(VG, devs), { all: true });
  assert.ok(again.result.ok);
  assert.equal(again.plan.steps, []);
  assert.equal(activate(lvmLikeEnvelope(VG, devs), {}).plan.steps, [], '--active too');
  // and through the CLIs: dmactivate prints an empty program
  const node = process.execPath;
  const r = await execa('sh', ['-c', `${node} ${binPath('vol-activate')} --all | ${node} ${binPath('dmactivate')}`], { input: JSON.stringify(lvmLikeEnvelope(VG, devs)), reject: false });
  assert.is(r.exitCode, 0, String(r.stderr));
  assert.equal(JSON.parse(String(r.stdout)).steps, []);
});

test('deactivation removes exactly the VG devices: foreign devices survive', async () => {
  await sh('dmsetup', ['create', 'foreign', '--table', '0 2048 zero']);
  // a uuid that starts with our scope but belongs to another VG id
  await sh('dmsetup', ['create', 'trap', '-u', `DVM-${ids.vg}X-1`, '--table', '0 2048 zero']);
  // Only the devices this test made: the other shard creates and removes its own meanwhile.
  const others = (l: Awaited<ReturnType<typeof dmInfo>>) => l.filter((d) => d.name === 'foreign' || d.name === 'trap');
  const before = others(await dmInfo());
  assert.is(before.length, 2);
  const off = activate(lvmLikeEnvelope(VG, devs), { deactivate: ['lin', 'str', 'mir'] });
  assert.ok(off.result.ok);
  const after = await dmInfo();
  assert.not.ok(after.some((d) => d.name.startsWith(`${VG}-`)));
  assert.equal(others(after), before, 'the foreign devices untouched');
  await sh('dmsetup', ['remove', 'foreign', 'trap']);
});

test('LVM2 maps the same layout on the same devices to the same tables', async () => {
  mkdirSync('/tmp/dvm-lvm', { recursive: true });
  writeFileSync('/tmp/dvm-lvm/lvm.conf', 'activation { udev_sync=0 udev_rules=0 monitoring=0 }\ndevices { obtain_device_list_from_udev=0 }\n');
  const env = { LVM_SYSTEM_DIR: '/tmp/dvm-lvm' };
  const lvm = (...a: string[]) => sh('lvm', a, { env });
  await lvm('pvcreate', '-y', '-ff', ...devs);
  await lvm('vgcreate', '-y', 'lvmvg', ...devs);
  await lvm('lvcreate', '-y', '-n', 'lin', '-L', '8M', 'lvmvg', devs[0]);
  await lvm('lvcreate', '-y', '-n', 'str', '-i', '2', '-I', '64k', '-L', '16M', 'lvmvg', devs[0], devs[1]);
  await lvm('lvcreate', '-y', '--type', 'raid1', '-m', '1', '-n', 'mir', '-L', '12M', 'lvmvg', devs[1], devs[2]);
  const theirs = await namedTables('lvmvg-');
  await lvm('vgchange', '-an', 'lvmvg');
  await lvm('vgremove', '-y', '-f', 'lvmvg');
  assert.equal([...theirs].sort(), [...ours].sort());
});

test.run();
