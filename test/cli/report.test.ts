import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliBattery, runBin, assertOneLineError, ROOT } from '../helpers/cli.js';
import { validate } from '../../src/lib/schema.js';

const fixture = readFileSync(path.join(ROOT, 'test/fixtures/envelope-3lv.json'), 'utf8');
const env = JSON.parse(fixture);

cliBattery(test, 'report');

const report = (args: string[], input = fixture) => runBin('report', args, { input });

test('report: the default LV table has the columns LVM users know', async () => {
  const r = await report(['vg0']);
  assert.is(r.exitCode, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines[0].trim().split(/\s+/), ['LV', 'VG', 'Attr', 'LSize', '#Seg', 'Devices']);
  assert.is(lines.length, 4, 'three visible LVs, hidden sub-LVs left out');
  assert.match(r.stdout, /^ {2}lin +vg0 -wi------- 12\.00m +2 \/dev\/loop0\(0\),\/dev\/loop1\(5\)$/m);
  assert.match(r.stdout, /^ {2}str +vg0 -wi------- 16\.00m +1 \/dev\/loop0\(2\),\/dev\/loop1\(0\)$/m);
  assert.match(r.stdout, /^ {2}mir +vg0 rwi---r--- +4\.00m +1 mir_rimage_0\(0\),mir_rimage_1\(0\)$/m);
});

test('report --pvs and --vgs count free space from the segments', async () => {
  const p = await report(['--pvs', '--units', 'm', '--noheadings']);
  assert.is(p.stdout, '  /dev/loop0 vg0 dvm1 a-- 96.00m 72.00m\n  /dev/loop1 vg0 dvm1 a-- 96.00m 76.00m\n');
  const v = JSON.parse((await report(['--vgs', '--json'])).stdout);
  validate('dvm.report/1', v);
  assert.equal(v.rows[0], { vg_name: 'vg0', pv_count: 2, lv_count: 3, snap_count: 0, vg_attr: 'wz--n-', vg_size: 48 * 8192, vg_free: (48 - 11) * 8192 });
});

test('report --segments -a shows every segment, hidden sub-LVs in brackets', async () => {
  const r = await report(['--segments', '-a', '-o', 'lv_name,seg_start,seg_size,segtype,stripes,stripe_size,seg_pe_ranges', '--units', 's']);
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /^ {2}lin +0s +16384s linear +1 +0s \/dev\/loop0:0-1$/m);
  assert.match(r.stdout, /^ {2}lin +16384s +8192s linear +1 +0s \/dev\/loop1:5-5$/m);
  assert.match(r.stdout, /^ {2}str +0s +32768s striped +2 +128s \/dev\/loop0:2-3,\/dev\/loop1:0-1$/m);
  assert.match(r.stdout, /^ {2}\[mir_rmeta_1\] /m);
});

test('report --json: numbers are numbers, lists are arrays, unknown is null', async () => {
  const r = await report(['--json', '-o', 'lv_name,lv_size,devices,copy_percent']);
  const doc = JSON.parse(r.stdout);
  validate('dvm.report/1', doc);
  assert.equal(doc.rows[0], { lv_name: 'lin', lv_size: 3 * 8192, devices: ['/dev/loop0(0)', '/dev/loop1(5)'], copy_percent: null });
});

test('report -o +FIELD appends to the defaults; short names resolve', async () => {
  const r = await report(['-o', '+uuid', '--separator', '|']);
  assert.is(r.stdout.split('\n')[0], 'LV|VG|Attr|LSize|#Seg|Devices|LV UUID');
  const s = await report(['-o', 'name,size', '--units', 'e', '--noheadings', '--separator', ' ']);
  assert.is(s.stdout, 'lin 3e\nstr 4e\nmir 1e\n');
});

test('report marks missing PVs: [unknown] device, m in pv_attr, p in lv_attr, partial VG', async () => {
  const e = structuredClone(env);
  delete e.devices.PVbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2;
  e.missing = ['PVbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2'];
  const input = JSON.stringify(e);
  const pvs = await report(['--pvs', '--noheadings'], input);
  assert.match(pvs.stdout, /^ {2}\[unknown\] +vg0 dvm1 a-m /m);
  const lvs = await report(['-o', 'lv_name,lv_attr,devices', '--noheadings'], input);
  assert.match(lvs.stdout, /^ {2}lin -wi-----p- \/dev\/loop0\(0\),\[unknown\]\(5\)$/m);
  assert.match(lvs.stdout, /^ {2}mir rwi---r-p- /m, 'partial through its sub-LVs');
  const vgs = await report(['--vgs', '-o', 'vg_attr,vg_missing_pv_count', '--noheadings'], input);
  assert.match(vgs.stdout, /wz--np +1/);
});

test('report --dm-state adds activation state and raid sync from a saved dvm.dm/1', async () => {
  const vgid = env.vg.id;
  const dm = {
    format: 'dvm.dm/1',
    scope: `DVM-${vgid}`,
    devices: [
      { name: 'vg0-lin', uuid: `DVM-${vgid}-LVlinear000000000000000000000001`, table: [{ start: 0, length: 24576, target: 'linear', params: '7:0 2048' }], open_count: 1, suspended: false },
      { name: 'vg0-mir', uuid: `DVM-${vgid}-LVmirror000000000000000000000003`, table: [{ start: 0, length: 8192, target: 'raid', params: 'raid1 3 0 region_size 4096 2 254:0 254:1 254:2 254:3' }], status: [{ start: 0, length: 8192, target: 'raid', params: 'raid1 2 Aa 4096/8192 resync 0 0 -' }], open_count: 0, suspended: true },
    ],
  };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dvm-report-'));
  const f = path.join(dir, 'dm.json');
  writeFileSync(f, JSON.stringify(dm));
  const r = await report(['--dm-state', f, '--separator', ',', '--noheadings']);
  assert.is(r.exitCode, 0, r.stderr);
  const rows = r.stdout.trimEnd().split('\n').map((l) => l.split(','));
  assert.equal(rows[0].slice(0, 3), ['lin', 'vg0', '-wi-ao----']);
  assert.equal(rows[0].slice(-3), ['active', '', '/dev/mapper/vg0-lin']);
  assert.equal(rows[1].slice(2, 3), ['-wi-------'], 'str: not active, as lvs shows it');
  assert.equal(rows[2].slice(2, 3), ['rwi-s-r---'], 'mir: suspended');
  assert.is(rows[2][rows[2].length - 2], '50.00', 'raid sync 4096/8192');
});

test('report refuses an envelope for another VG, bad units and unknown fields', async () => {
  assertOneLineError(await report(['vg9']), 'report', 3, /envelope on stdin is for 'vg0'/);
  assertOneLineError(await report(['--units', 'q']), 'report', 2, /units/);
  assertOneLineError(await report(['-o', 'lv_name,nope']), 'report', 2, /unknown field 'nope'/);
  assertOneLineError(await report(['--pvs', '--vgs']), 'report', 2);
  assertOneLineError(await report(['--dm-state', '/nonexistent/x.json']), 'report', 2, /cannot read/);
  assertOneLineError(await report([], JSON.stringify({ ...env, vg: { ...env.vg, name: 'bad/name' } })), 'report', 3, /vg\/name/);
});

test.run();
