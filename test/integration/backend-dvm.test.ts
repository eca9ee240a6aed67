// The dvm backend on the real kernel: the one backend contract suite against
// dvm:VG (a dvm VG over loop devices, LVs activated through device-mapper),
// then what only this backend has — its tags in the VG's own metadata (report
// -o +lv_tags shows them), a VG local to one machine refusing another node,
// and a grow of an attached, active volume reloading its table inside the
// two-phase commit while the data on it stays.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync, writeSync, fsyncSync } from 'node:fs';
import { randomBytes, randomUUID, createHash } from 'node:crypto';
import { backendContract } from '../helpers/backend-contract.js';
import { makeLoops, query, sh } from '../helpers/vm-dm.js';
import { openDvm } from '../../src/agent/backends/dvm/index.js';
import { fromTags } from '../../src/agent/backends/dvm/tags.js';
import { openBackend } from '../../src/agent/backend/registry.js';
import { BackendError, type Backend } from '../../src/agent/backend/types.js';
import { init } from '../../src/transaction-manager/ops.js';
import { read } from '../../src/transaction-manager/ops.js';
import { closeAll, openLocked } from '../../src/transaction-manager/lock.js';
import { vgScope } from '../../src/lib/dm-doc.js';
import { runBin } from '../helpers/cli.js';

const MiB = 1 << 20;
const VG = `dvmbk${process.pid}`;
const CLUSTER = '00000000-0000-4000-8000-0000000000dd';
let devs: string[] = [];

/** Every dm device of the VG removed (unmounting nothing: the tests leave nothing mounted). */
async function removeDevices(): Promise<void> {
  const env = readEnv();
  const names = query(vgScope(env.vg.id)).devices.map((d) => d.name);
  // tops first: a device another one maps cannot go before it
  for (let pass = 0; pass < 3 && names.length; pass++)
    for (const n of [...names]) {
      try {
        await sh('dmsetup', ['remove', n]);
        names.splice(names.indexOf(n), 1);
      } catch {
        /* still held by a device above it: next pass */
      }
    }
}

function readEnv() {
  const d = openLocked(devs, 'sh');
  try {
    return read(VG, d).env;
  } finally {
    closeAll(d);
  }
}

/** A fresh, empty VG on the same loop devices. */
function freshVg(): void {
  const d = openLocked(devs, 'ex');
  try {
    init(VG, d, { extentSize: 8192, force: true });
  } finally {
    closeAll(d);
  }
}

const open = (node: string, o: { cluster: string; credentialed: boolean }) => openDvm(VG, { node, ...o }, { devs, nodes: ['n1', 'n2', 'n3'] });

/** The loop devices, made once: the contract suite runs before this file's own tests (and their hooks). */
async function loops(): Promise<void> {
  if (devs.length) return;
  ({ devs } = await makeLoops(2, 160));
  freshVg();
  process.on('exit', () => {
    for (const d of devs) spawnSync('losetup', ['-d', d]);
  });
}
test.after(async () => {
  await removeDevices().catch(() => {});
});

backendContract({
  name: 'dvm',
  setup: async () => {
    await loops();
    await removeDevices();
    freshVg();
    return {
      backend: open,
      hold: async (p: string) => {
        const fd = openSync(p, 'r');
        return async () => closeSync(fd);
      },
      // A reboot: the kernel's dm devices are gone, the VG's metadata (and its tags) stays.
      reboot: removeDevices,
      cleanup: removeDevices,
    };
  },
  unknownId: 'dvm-0000000000000000',
  size: 16 * MiB,
  realDevices: true,
  detectsConnected: true,
});

async function withVg(fn: (b: Backend) => Promise<void>) {
  await loops();
  await removeDevices();
  freshVg();
  try {
    await fn(await open('n1', { cluster: CLUSTER, credentialed: true }));
  } finally {
    await removeDevices();
  }
}

test('the dataset id, cluster, name and attachment are LV tags in the VG itself; report -o +lv_tags shows them', () =>
  withVg(async (b) => {
    const dataset = randomUUID();
    const v = await b.control!.create({ cluster: CLUSTER, dataset, name: 'dvm-pg data', size: 8 * MiB, metadata: { app: 'postgres' } });
    await b.control!.attach(v.id, 'n1');
    const lv = readEnv().vg.lvs.find((l) => l.name === v.id)!;
    const st = fromTags(lv.tags);
    assert.equal(st, { name: 'dvm-pg data', node: 'n1', metadata: { app: 'postgres', 'dvm.dataset': dataset, 'dvm.cluster': CLUSTER } });
    // A second create for the same dataset is the same volume, never a second one.
    const again = await b.control!.create({ cluster: CLUSTER, dataset, name: 'dvm-pg data', size: 8 * MiB, metadata: { app: 'postgres' } });
    assert.is(again.id, v.id);
    assert.is(readEnv().vg.lvs.length, 1);
    const r = await runBin('report', ['-o', 'lv_name,lv_tags', '--noheadings'], { input: JSON.stringify(readEnv()) });
    assert.is(r.exitCode, 0, r.stderr);
    assert.ok(r.stdout.includes('dvm.node=n1') && r.stdout.includes('dvm.m.dvm.dataset='), r.stdout);
    // Reopened from the spec, with discovery finding the PVs: the same listing.
    const viaSpec = await openBackend(`dvm:${VG}?nodes=n1,n2`, { node: 'n1', credentialed: true, cluster: CLUSTER });
    assert.equal((await viaSpec.control!.list()).map((x) => [x.id, x.dataset, x.attached]), [[v.id, dataset, 'n1']]);
  }));

test('a dvm VG is local to one machine: attach to a node it does not serve is refused, typed', () =>
  withVg(async (b) => {
    const v = await b.control!.create({ cluster: CLUSTER, dataset: randomUUID(), name: 'dvm-x', size: 8 * MiB, metadata: {} });
    try {
      await b.control!.attach(v.id, 'elsewhere');
      assert.unreachable('attached to another machine');
    } catch (e) {
      assert.instance(e, BackendError);
      assert.is((e as BackendError).kind, 'unsupported');
      assert.match((e as Error).message, /local to this machine/);
    }
    assert.is((await b.control!.list())[0].attached, null);
  }));

test('grow of an attached, active volume: the table is reloaded inside the commit and the data stays', () =>
  withVg(async (b) => {
    const c = b.control!;
    const v = await c.attach((await c.create({ cluster: CLUSTER, dataset: randomUUID(), name: 'dvm-g', size: 8 * MiB, metadata: {} })).id, 'n1');
    const d = (await b.node.findDevice(v))!;
    const data = randomBytes(MiB);
    const fd = openSync(d.path, 'r+');
    writeSync(fd, data, 0, data.length, 0);
    fsyncSync(fd);
    closeSync(fd);
    const grown = await c.resize(v.id, 24 * MiB);
    assert.is(grown.size, 24 * MiB);
    // Without a refresh: the kernel's device already has the new size.
    const dev = query(vgScope(readEnv().vg.id)).devices.find((x) => x.name.endsWith(v.id.replace(/-/g, '--')))!;
    assert.is(dev.table.reduce((n, l) => n + l.length, 0) * 512, 24 * MiB);
    assert.not.ok(dev.suspended, 'resumed');
    const r = (await b.node.refresh(grown))!;
    assert.is(r.size, 24 * MiB);
    const back = Buffer.alloc(MiB);
    const fd2 = openSync(r.path, 'r');
    readSync(fd2, back, 0, MiB, 0);
    closeSync(fd2);
    assert.is(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(data).digest('hex'));
  }));

test.run();
