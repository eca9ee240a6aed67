// Issue 17 item 14: what discover opens. A fake /sys/class/block decides;
// the /dev nodes are the machine's loop devices (present on any Linux).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { systemBlockDevices } from '../../src/discovery/scan.js';

const sys = mkdtempSync(path.join(tmpdir(), 'dvm-sys-'));
function dev(name: string, o: { holders?: string[]; uuid?: string; partitions?: string[]; size?: number } = {}) {
  const d = path.join(sys, name);
  mkdirSync(path.join(d, 'holders'), { recursive: true });
  writeFileSync(path.join(d, 'size'), `${o.size ?? 2048}\n`);
  for (const h of o.holders ?? []) mkdirSync(path.join(d, 'holders', h));
  if (o.uuid !== undefined) {
    mkdirSync(path.join(d, 'dm'));
    writeFileSync(path.join(d, 'dm', 'uuid'), o.uuid + '\n');
    writeFileSync(path.join(d, 'dm', 'suspended'), '0\n');
  }
  for (const p of o.partitions ?? []) {
    mkdirSync(path.join(d, p));
    writeFileSync(path.join(d, p, 'partition'), '1\n');
  }
}

test('discover skips devices claimed by other stacks and partitioned disks, keeps dvm PVs with active LVs', () => {
  const loops = [0, 1, 2, 3, 4, 5].map((i) => `loop${i}`);
  if (!loops.every((l) => existsSync(`/dev/${l}`))) throw new Error('this test needs /dev/loop0..5 (modprobe loop)');
  dev('loop0'); // plain: scanned
  dev('loop1', { holders: ['dm-90'] }); // held by a dvm LV: a PV with active LVs, scanned
  dev('dm-90', { uuid: 'DVM-abc-def' });
  dev('loop2', { holders: ['dm-91'] }); // held by an LVM2 LV: LVM's PV
  dev('dm-91', { uuid: 'LVM-xyz' });
  dev('loop3', { holders: ['md0'] }); // an md member
  dev('loop4', { partitions: ['loop4p1'] }); // a partitioned disk
  dev('loop5', { size: 0 }); // unattached
  assert.equal(systemBlockDevices(sys), ['/dev/loop0', '/dev/loop1']);
});

test.after(() => rmSync(sys, { recursive: true, force: true }));
test.run();
