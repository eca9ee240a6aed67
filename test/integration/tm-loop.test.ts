// tm and discover on real block devices (loop devices), as root in the VM:
// sysfs sizes, the discover pipelines, flock serialisation against another
// process on the block device, and fsync reaching the backing file.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, truncateSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { ROOT, runBin } from '../helpers/cli.js';

const prefix = `tmit${process.pid}`;
const dir = mkdtempSync(path.join(tmpdir(), `${prefix}-`));
const loops: string[] = [];
const TM = `node ${ROOT}/bin/tm.js`;
const DISCOVER = `node ${ROOT}/bin/discover.js`;

async function attach(file: string): Promise<string> {
  const r = await execa('losetup', ['-f', '--show', file]);
  const dev = r.stdout.trim();
  loops.push(dev);
  return dev;
}
async function detach(dev: string): Promise<void> {
  await execa('losetup', ['-d', dev], { reject: false });
  loops.splice(loops.indexOf(dev), 1);
}
function image(name: string, size: number): string {
  const p = path.join(dir, name);
  writeFileSync(p, '');
  truncateSync(p, size);
  return p;
}
const sh = (cmd: string) => execa('sh', ['-c', cmd], { reject: false });

test('tm init on loop devices; discover | xargs tm read and discover | tm read agree', async () => {
  const files = [image('a.img', 64 << 20), image('b.img', 48 << 20)];
  const devs = [await attach(files[0]), await attach(files[1])];
  const vg = `${prefix}a`;
  const r = await runBin('tm', ['init', vg, ...devs]);
  assert.is(r.exitCode, 0, r.stderr);
  const env = JSON.parse(r.stdout);
  assert.equal(env.vg.pvs.map((p: { size: number }) => p.size), [(64 << 20) / 512, (48 << 20) / 512], 'sizes from sysfs');
  const d = await sh(`${DISCOVER} ${vg}`);
  assert.is(d.exitCode, 0, d.stderr);
  assert.equal(d.stdout.trim().split('\n').sort(), [...devs].sort(), 'discover finds the loop devices by scanning sysfs');
  const viaXargs = await sh(`${DISCOVER} ${vg} | xargs ${TM} read ${vg}`);
  const viaStdin = await sh(`${DISCOVER} ${vg} | ${TM} read ${vg}`);
  assert.is(viaXargs.exitCode, 0, viaXargs.stderr);
  assert.is(viaStdin.stdout, viaXargs.stdout);
  assert.equal(JSON.parse(viaStdin.stdout).vg, env.vg);
  const u = await sh(`${DISCOVER} ${vg} | ${TM} update ${vg} -- ${ROOT}/test/fixtures/add-lv.js data --extents 3`);
  assert.is(u.exitCode, 0, u.stderr);
  assert.is((await sh(`${DISCOVER} ${vg} | ${TM} verify ${vg}`)).exitCode, 0);
  // fsync reached the files: detach, reattach (maybe other numbers), read again
  for (const dv of [...devs]) await detach(dv);
  await attach(files[1]);
  await attach(files[0]);
  const again = await sh(`${DISCOVER} ${vg} | ${TM} read ${vg}`);
  assert.is(again.exitCode, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).vg, JSON.parse(u.stdout).vg);
});

test('flock on the block device serialises tm with another holder', async () => {
  const dev = await attach(image('c.img', 32 << 20));
  const vg = `${prefix}c`;
  assert.is((await runBin('tm', ['init', vg, dev])).exitCode, 0);
  const log = path.join(dir, 'order.log');
  writeFileSync(log, '');
  // util-linux flock holds an exclusive lock on the device node for a while
  const holder = execa('flock', ['-x', dev, 'sh', '-c', `echo holder-start >> ${log}; sleep 2; echo holder-end >> ${log}`]);
  while (!readFileSync(log, 'utf8').includes('holder-start')) await new Promise((r) => setTimeout(r, 50));
  const u = await sh(`${TM} update ${vg} ${dev} --sync 'cat >/dev/null; echo tm-$DVM_TM_PHASE >> ${log}' -- ${ROOT}/test/fixtures/add-lv.js x`);
  await holder;
  assert.is(u.exitCode, 0, u.stderr);
  assert.equal(readFileSync(log, 'utf8').trim().split('\n'), ['holder-start', 'holder-end', 'tm-prepare', 'tm-commit']);
  // and the reverse: a shared reader (tm read) does not block another shared holder
  const rd = await sh(`flock -s ${dev} ${TM} read ${vg} ${dev}`);
  assert.is(rd.exitCode, 0, rd.stderr);
});

test('tm add and remove on loop devices; a cloned PV is reported by discover', async () => {
  const a = await attach(image('d.img', 32 << 20));
  const b = await attach(image('e.img', 32 << 20));
  const vg = `${prefix}d`;
  assert.is((await runBin('tm', ['init', vg, a])).exitCode, 0);
  const add = await runBin('tm', ['add', vg, b, '--dev', a]);
  assert.is(add.exitCode, 0, add.stderr);
  assert.equal((await sh(`${DISCOVER} ${vg}`)).stdout.trim().split('\n').sort(), [a, b].sort());
  const clone = await attach(path.join(dir, 'd.img')); // the same image twice: a cloned disk
  const d = await sh(`${DISCOVER} ${vg}`);
  assert.is(d.exitCode, 1);
  assert.match(d.stderr, /cloned/);
  await detach(clone);
  const rm = await runBin('tm', ['remove', vg, b, '--dev', a]);
  assert.is(rm.exitCode, 0, rm.stderr);
  assert.equal((await sh(`${DISCOVER} ${vg}`)).stdout.trim().split('\n'), [a]);
});

test.after(async () => {
  for (const dv of [...loops]) await detach(dv);
  rmSync(dir, { recursive: true, force: true });
});
test.run();
