// End to end on loopback with real loop devices, mkfs and mounts: two agents
// (n1 credentialed, n2), each in its own mount namespace so that neither can
// do the other's work. Two datasets on n1, files written, a move to n2, a
// grow seen by df there, a destroy that removes the volume; one mkfs per
// volume over the whole test.
import { ensurePackages } from '../helpers/packages.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster } from '../helpers/agent-cluster.js';
import { runBin } from '../helpers/cli.js';
import type { DatasetStatus, VolumesDoc } from '../../src/agent/docs.js';

const MiB = 1024 * 1024;
let c: Cluster;

async function waitConverged(what: string, timeout = 120): Promise<void> {
  const r = await c.dataset('status', '--wait', '--timeout', String(timeout));
  if (r.exitCode !== 0) {
    throw new Error(`${what}: status --wait exited ${r.exitCode}\n${r.stdout}${r.stderr}\n--- n1\n${c.log('n1').slice(-3000)}\n--- n2\n${c.log('n2').slice(-3000)}`);
  }
}

async function statusOf(name: string): Promise<DatasetStatus> {
  const r = await c.dataset('status', '--json');
  assert.is(r.exitCode, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { datasets: Record<string, { name: string; status: DatasetStatus }> };
  const found = Object.values(doc.datasets).find((d) => d.name === name);
  assert.ok(found?.status, `status of ${name}`);
  return found!.status;
}

test.before(() => {
  ensurePackages({ xfsprogs: '/usr/sbin/mkfs.xfs' });
  c = new Cluster();
});
test.after(async () => {
  await c.destroy();
});

test('two datasets on n1, a move to n2 keeps the files, a grow shows in df there, a destroy removes the volume, one mkfs per volume', async () => {
  c.start('n1', { credentialed: true });
  c.start('n2');
  // a is xfs: ext4's online grow needs CAP_SYS_RESOURCE, which root lacks on
  // some hosts (this one among them); xfs_growfs does not. b is ext4.
  for (const [name, size, fs] of [['a', '320M', 'xfs'], ['b', '64M', 'ext4']]) {
    const r = await c.dataset('create', name, '--size', size, '--fs', fs, '--node', 'n1');
    assert.is(r.exitCode, 0, r.stderr);
  }
  await waitConverged('create on n1');
  const ma = (await statusOf('a')).observed!;
  const mb = (await statusOf('b')).observed!;
  assert.equal([ma.node, mb.node], ['n1', 'n1']);
  assert.ok(ma.mounted && mb.mounted);
  assert.ok(c.mountsOf('n1').includes(` ${ma.mounted} `), 'a mounted in n1');
  assert.not.ok(c.mountsOf('n2').includes(` ${ma.mounted} `), "n1's mount is not in n2's namespace");

  c.inNode('n1', 'sh', ['-c', `head -c 3145728 /dev/urandom > '${ma.mounted}/data' && mkdir '${ma.mounted}/dir' && echo hello > '${ma.mounted}/dir/note' && sync`]);
  const before = c.inNode('n1', 'sh', ['-c', `cd '${ma.mounted}' && sha256sum data dir/note`]);

  let r = await c.dataset('move', 'a', '--to', 'n2');
  assert.is(r.exitCode, 0, r.stderr);
  await waitConverged('move a to n2');
  const moved = (await statusOf('a')).observed!;
  assert.is(moved.node, 'n2');
  assert.ok(moved.mounted);
  assert.not.ok(c.mountsOf('n1').includes(` ${ma.mounted} `), 'unmounted on n1');
  assert.ok(c.mountsOf('n2').includes(` ${moved.mounted} `), 'mounted in n2');
  const after = c.inNode('n2', 'sh', ['-c', `cd '${moved.mounted}' && sha256sum data dir/note`]);
  assert.is(after, before, 'the files came along');

  const dfSize = () => Number(c.inNode('n2', 'df', ['-B1', '--output=size', moved.mounted!]).trim().split('\n')[1]);
  const small = dfSize();
  r = await c.dataset('grow', 'a', '+64M');
  assert.is(r.exitCode, 0, r.stderr);
  await waitConverged('grow a');
  const big = dfSize();
  assert.ok(big - small > 56 * MiB, `df grew by ${(big - small) / MiB} MiB`);

  const idB = Object.entries(JSON.parse((await c.dataset('list', '--json')).stdout).datasets as Record<string, { name: string }>).find(([, d]) => d.name === 'b')![0];
  r = await c.dataset('destroy', 'b');
  assert.is(r.exitCode, 0, r.stderr);
  await waitConverged('destroy b');
  const vols = await runBin('dataset-volumes', ['--backend', `loopback:${c.lb}`, '--node', 'n1']);
  assert.is(vols.exitCode, 0, vols.stderr);
  const listing = JSON.parse(vols.stdout) as VolumesDoc;
  assert.not.ok(listing.volumes.some((v) => v.dataset === idB), "b's volume is gone");
  assert.is(listing.volumes.length, 1, 'only a is left');
  assert.not.ok(c.mountsOf('n1').includes(` ${mb.mounted} `), 'b unmounted before destroy');
  const names = Object.values(JSON.parse((await c.dataset('list', '--json')).stdout).datasets as Record<string, { name: string }>).map((d) => d.name);
  assert.equal(names, ['a'], 'a destroyed dataset is forgotten once its volume is gone');

  assert.is(c.mkfsCalls().length, 2, `one mkfs per volume: ${c.mkfsCalls().join('; ')}`);

  for (const n of ['n1', 'n2']) {
    const e = await c.stop(n);
    assert.is(e.code, 0, `${n} exits 0 on SIGTERM`);
  }
});

test.run();
