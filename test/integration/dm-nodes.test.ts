// /dev/mapper nodes as LVM's udev rules make them (0660, root:disk), and
// udev's symlink kept where udev made one (the VM has no udev: the test plays
// its part by putting the symlink in place itself).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, existsSync, lstatSync, readlinkSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { withLoops, removeOurDmDevices } from '../helpers/devices.js';
import { dmexec, dmname, createSteps } from '../helpers/dm.js';
import { tableLine } from '../../src/lib/dm-table.js';
import { diskGid } from '../../src/dmexec/nodes.js';

const node = (name: string) => `/dev/mapper/${name}`;
const minorOf = (p: string) => Number(BigInt(statSync(p).rdev) & 0xffn) | Number((BigInt(statSync(p).rdev) >> 12n) & ~0xffn);

test.after(removeOurDmDevices);

test('dmexec makes /dev/mapper/<name> 0660 root:disk, as udev with LVM rules does', async () => {
  await withLoops(1, 8, async ([pv]) => {
    const name = dmname('mode');
    const r = await dmexec(createSteps(name, [tableLine(0, 2048, 'linear', `${pv.mm} 0`)]));
    assert.is(r.exitCode, 0, r.stderr);
    const st = lstatSync(node(name));
    assert.ok(st.isBlockDevice(), 'a block node, not a symlink');
    assert.is((st.mode & 0o7777).toString(8), '660');
    assert.is(st.uid, 0);
    assert.is(st.gid, diskGid());
    assert.ok(diskGid() > 0, "Debian has a 'disk' group");
    assert.is((await dmexec([{ op: 'remove', name }])).exitCode, 0);
    assert.not.ok(existsSync(node(name)), 'remove takes the node away');
  });
});

test("udev's symlink to ../dm-N is kept; a node of ours with other permissions is corrected", async () => {
  await withLoops(1, 8, async ([pv]) => {
    const name = dmname('udev');
    assert.is((await dmexec(createSteps(name, [tableLine(0, 2048, 'linear', `${pv.mm} 0`)]))).exitCode, 0);
    const dm = `/dev/dm-${minorOf(node(name))}`;
    assert.ok(existsSync(dm), `${dm} (devtmpfs)`);
    // What udev with LVM's rules leaves: /dev/mapper/<name> -> ../dm-N.
    unlinkSync(node(name));
    symlinkSync(`../${dm.slice(5)}`, node(name));
    const again = await dmexec([{ op: 'mknod', name }]);
    assert.is(again.exitCode, 0, again.stderr);
    assert.ok(lstatSync(node(name)).isSymbolicLink(), 'the symlink stays: udev wins');
    assert.is(readlinkSync(node(name)), `../${dm.slice(5)}`);
    assert.equal(again.doc.nodes, [], 'nothing done to it');

    // A node an older dvm made (0600 root:root) is brought to 0660 root:disk.
    unlinkSync(node(name));
    assert.is((await dmexec([{ op: 'mknod', name }])).exitCode, 0);
    chmodSync(node(name), 0o600);
    chownSync(node(name), 0, 0);
    const fix = await dmexec([{ op: 'mknod', name }]);
    assert.is(fix.exitCode, 0, fix.stderr);
    const st = lstatSync(node(name));
    assert.is((st.mode & 0o7777).toString(8), '660');
    assert.is(st.gid, diskGid());
    assert.is((await dmexec([{ op: 'remove', name }])).exitCode, 0);
  });
});

test.run();
