// tm killed around the commits of the snapshot programs, through the real
// CLIs: `tm update --sync` of lv-snapshot and lv-remove on a mounted origin
// and of lv-merge on an active one, tm SIGKILLed after the precommit, after
// the prepare phase (devices suspended, tables staged) and after the commit;
// then `tm recover --sync` converges: the kernel matches the committed
// metadata, nothing is suspended, the mounted files are intact, and a merge
// that was committed runs to its end in the kernel and leaves the metadata at
// the next recover. (snapshot.test.ts kills dmexec after every step instead.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { binPath } from '../helpers/cli.js';
import { assertNothingSuspended, dropCaches, makeLoops, planFor, query, readAt, sh, sha, SYNC_CMD, TM_CRASHES, tmCli, writeAt } from '../helpers/vm-dm.js';
import type { Envelope } from '../../src/lib/vg-types.js';

const VG = 'vgsnapk';
let devs: string[] = [];
const mnt = '/tmp/dvm-mnt-snapk';
const files = new Map<string, string>();
const node = process.execPath;
const tm = tmCli;
const envelope = async (): Promise<Envelope> => JSON.parse((await tm(['read', VG, ...devs])).out);
const names = async () => (await envelope()).vg.lvs.map((l) => l.name).sort();
const update = (cmd: string, mutator: string[]) => tm(['update', VG, ...devs, '--sync', cmd, '--', ...mutator]);

async function assertConverged(what: string) {
  assert.equal(planFor(await envelope(), {}).steps, [], `${what}: kernel and metadata agree`);
  await assertNothingSuspended(what, VG);
  await dropCaches();
  for (const [p, h] of files) assert.is(sha(readFileSync(p)), h, `${what}: ${p} intact`);
}
async function writeFile(tag: string) {
  const data = randomBytes(128 * 1024);
  writeFileSync(`${mnt}/${tag}`, data);
  files.set(`${mnt}/${tag}`, sha(data));
  await sh('sync', []);
}

test.before(async () => {
  ({ devs } = await makeLoops(3, 64));
  assert.is((await tm(['init', VG, ...devs, '--extent-size', '4M'])).code, 0);
  for (const lv of ['data', 'raw']) assert.is((await tm(['update', VG, ...devs, '--', 'lv-create', lv, '16M'])).code, 0);
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

const crashes = TM_CRASHES;

async function crashThenRecover(what: string, cmd: string, mutator: string[]) {
  const r = await update(cmd, mutator);
  assert.is.not(r.code, 0, `${what}: tm was killed`);
  const rec = await tm(['recover', VG, ...devs, '--sync', SYNC_CMD]);
  assert.is(rec.code, 0, `${what}: ${rec.err}`);
  await assertConverged(what);
}

for (const [when, cmd] of crashes) {
  test(`lv-snapshot and lv-remove of a snapshot of a mounted origin, tm killed ${when}: recover --sync converges, files intact`, async () => {
    await crashThenRecover(`lv-snapshot, killed ${when}`, cmd, ['lv-snapshot', 'data', 'snap', '8M']);
    const after = await names();
    // Killed before the commit point the change is rolled back; after it, rolled forward.
    assert.equal(after, when === 'after commit' ? ['data', 'raw', 'snap'] : ['data', 'raw'], `lv-snapshot ${when}: ${after}`);
    if (!after.includes('snap')) assert.is((await update(SYNC_CMD, ['lv-snapshot', 'data', 'snap', '8M'])).code, 0);
    await writeFile(`under-snap-${when.replace(/ /g, '-')}`);
    await crashThenRecover(`lv-remove, killed ${when}`, cmd, ['lv-remove', 'snap']);
    const left = await names();
    assert.equal(left, when === 'after commit' ? ['data', 'raw'] : ['data', 'raw', 'snap'], `lv-remove ${when}: ${left}`);
    if (left.includes('snap')) assert.is((await update(SYNC_CMD, ['lv-remove', 'snap'])).code, 0);
    await assertConverged(`${when}: snapshot gone`);
  });

  // Killed after the precommit nothing reached the kernel: lv-snapshot's case above is the same rollback.
  if (when !== 'after precommit') test(`lv-merge of an active origin, tm killed ${when}: recover --sync converges; the merge ends in the kernel and leaves the metadata`, async () => {
    const dev = `/dev/mapper/${VG}-raw`;
    const a = writeAt(dev, 0, 64 * 1024);
    assert.is((await update(SYNC_CMD, ['lv-snapshot', 'raw', 'rs', '8M'])).code, 0);
    const b = writeAt(dev, 0, 64 * 1024);
    assert.not.ok(a.equals(b));
    await crashThenRecover(`lv-merge, killed ${when}`, cmd, ['lv-merge', 'rs']);
    // (a committed merge of 64 KiB may be over already: the same recover then dropped the snapshot)
    const rs = (await envelope()).vg.lvs.find((l) => l.name === 'rs');
    if (rs && !rs.snapshot?.merging) {
      assert.is.not(when, 'after commit', 'a committed merge is kept by recover');
      assert.is((await update(SYNC_CMD, ['lv-merge', 'rs'])).code, 0);
    }
    // the kernel finishes the merge; the next recover --sync drops the snapshot and maps the origin plain
    let names_: string[] = [];
    for (let i = 0; i < 60; i++) {
      const rec = await tm(['recover', VG, ...devs, '--sync', SYNC_CMD]);
      assert.is(rec.code, 0, rec.err);
      names_ = await names();
      if (!names_.includes('rs')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(names_, ['data', 'raw'], `the merged snapshot left the metadata (${when})`);
    await assertConverged(`${when}: merged`);
    await dropCaches();
    assert.ok(readAt(dev, 0, a.length).equals(a), `${when}: the origin rolled back to the snapshot's data`);
  });
}

test.run();
