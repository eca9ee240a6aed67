// The whole stack through the real CLIs: tm init / tm update --sync
// 'vol-activate --active | dmactivate | dmexec' -- lv-extend, tm killed at each
// phase boundary then tm recover --sync, and a PV under dm flakey during an update.
// (activation-2pc.test.ts covers every step of every phase at the participant level.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { binPath } from '../helpers/cli.js';
import { assertNothingSuspended, dropCaches, makeLoops, planFor, query, sh, sha, SYNC_CMD, TM_CRASHES, tmCli } from '../helpers/vm-dm.js';

const VG = 'vgtm';
let devs: string[] = [];
const mnt = '/tmp/dvm-mnt-tm';
const files = new Map<string, string>();
const node = process.execPath;
const tm = tmCli;
const envelope = async () => JSON.parse((await tm(['read', VG, ...devs])).out);
/** the kernel matches the committed metadata: activating it again plans nothing (planned in process: node starts slowly in the VM) */
async function assertConverged(what: string) {
  assert.equal(planFor(await envelope(), {}).steps, [], `${what}: kernel and metadata agree`);
  await assertNothingSuspended(what, VG);
  await dropCaches();
  for (const [p, h] of files) assert.is(sha(readFileSync(p)), h, `${what}: ${p} intact`);
}
async function writeFile(tag: string) {
  const data = randomBytes(256 * 1024);
  writeFileSync(`${mnt}/${tag}`, data);
  files.set(`${mnt}/${tag}`, sha(data));
  await sh('sync', []);
}

test.before(async () => {
  ({ devs } = await makeLoops(3, 128));
  assert.is((await tm(['init', VG, ...devs, '--extent-size', '4M'])).code, 0);
  assert.is((await tm(['update', VG, ...devs, '--', 'lv-create', 'data', '8M'])).code, 0);
  const r = await execa('sh', ['-c', `${node} ${binPath('vol-activate')} --all | ${node} ${binPath('dmactivate')} | ${node} ${binPath('dmexec')}`], { input: JSON.stringify(await envelope()), reject: false });
  assert.is(r.exitCode, 0, String(r.stderr));
  await sh('mkfs.ext4', ['-q', '-F', `/dev/mapper/${VG}-data`]);
  mkdirSync(mnt, { recursive: true });
  await sh('mount', [`/dev/mapper/${VG}-data`, mnt]);
  await writeFile('first');
});
test.after(async () => {
  await sh('umount', [mnt]).catch(() => {});
  for (const d of query(`DVM-`).devices.filter((x) => x.name.startsWith(`${VG}-`))) await sh('dmsetup', ['remove', d.name]).catch(() => {});
  for (const d of devs) await sh('losetup', ['-d', d]).catch(() => {});
});

test('online grow: tm update --sync … -- lv-extend, then resize2fs on the mounted filesystem', async () => {
  const r = await tm(['update', VG, ...devs, '--sync', SYNC_CMD, '--', 'lv-extend', 'data', '+8M']);
  assert.is(r.code, 0, r.err);
  await sh('resize2fs', [`/dev/mapper/${VG}-data`]);
  await writeFile('grown');
  await assertConverged('after online grow');
});

const crashes = TM_CRASHES;
for (const [when, cmd] of crashes) {
  test(`tm killed ${when}: tm recover --sync converges, data intact`, async () => {
    const before = await envelope();
    const r = await tm(['update', VG, ...devs, '--sync', cmd, '--', 'lv-extend', 'data', '+4M']);
    assert.is.not(r.code, 0, 'tm was killed');
    if (when === 'after prepare') {
      // killed at the commit point: the LV is suspended with its new table staged
      const d = query(`DVM-${before.vg.id}`).devices.find((x) => x.name === `${VG}-data`)!;
      assert.ok(d.suspended && d.inactive_table, 'staged and suspended');
    }
    const rec = await tm(['recover', VG, ...devs, '--sync', SYNC_CMD]);
    assert.is(rec.code, 0, rec.err);
    await assertConverged(when);
  });
}

test('a PV under a dm flakey table during an update: the update fails cleanly, nothing half-committed', async () => {
  const before = await envelope();
  const tables = JSON.stringify(query(`DVM-${before.vg.id}`).devices.map((d) => [d.name, d.table]));
  // the third PV, seen through a dm device that reads fine and fails every write
  const size = (await sh('blockdev', ['--getsz', devs[2]])).trim();
  await sh('dmsetup', ['create', 'dvm-faulty', '--table', `0 ${size} flakey ${devs[2]} 0 0 1 1 error_writes`]);
  const faulty = [devs[0], devs[1], '/dev/mapper/dvm-faulty'];
  const r = await tm(['update', VG, ...faulty, '--sync', SYNC_CMD, '--', 'lv-extend', 'data', '+4M']);
  await sh('dmsetup', ['remove', 'dvm-faulty']);
  assert.is.not(r.code, 0, 'the update failed');
  const after = await envelope();
  assert.is(after.vg.seqno, before.vg.seqno, 'metadata unchanged');
  assert.is(JSON.stringify(query(`DVM-${before.vg.id}`).devices.map((d) => [d.name, d.table])), tables, 'kernel unchanged');
  await assertConverged('after the failed update');
});

test.run();
