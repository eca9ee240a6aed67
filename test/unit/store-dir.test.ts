// The directory store: the store contract suite, then what only a directory
// has (permissions, files, corrupt documents).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { openDirStore } from '../../src/agent/store/dir/dir-store.js';
import { ToolError } from '../../src/lib/errors.js';
import { desiredEntry, statusDoc, storeContract } from '../helpers/store-contract.js';
import { rejects } from '../helpers/rejects.js';

storeContract('directory', async () => {
  const parent = mkdtempSync(path.join(tmpdir(), 'dvm-store-'));
  const dir = path.join(parent, 'store');
  return {
    open: () => openDirStore(dir, { create: true }),
    dispose: async () => rmSync(parent, { recursive: true, force: true }),
  };
});

function fresh(): { parent: string; dir: string } {
  const parent = mkdtempSync(path.join(tmpdir(), 'dvm-store-'));
  return { parent, dir: path.join(parent, 'store') };
}
const exitCode = (code: number) => (e: unknown) => e instanceof ToolError && e.exitCode === code;

test('a new store directory is private (0700) and so is every subdirectory and file', async () => {
  const { parent, dir } = fresh();
  try {
    const s = await openDirStore(dir, { create: true });
    const id = randomUUID();
    await s.updateDesired((d) => ({ ...d, datasets: { [id]: desiredEntry('alpha') } }));
    await s.updateStatus(id, () => statusDoc(id));
    assert.is(statSync(dir).mode & 0o777, 0o700);
    for (const sub of ['desired', 'status', 'nodes']) assert.is(statSync(path.join(dir, sub)).mode & 0o777, 0o700, sub);
    assert.is(statSync(path.join(dir, 'desired', `${id}.json`)).mode & 0o777, 0o600);
    assert.is(statSync(path.join(dir, 'status', `${id}.json`)).mode & 0o777, 0o600);
    await s.close();
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('one file per dataset: no single value grows with the cluster', async () => {
  const { parent, dir } = fresh();
  try {
    const s = await openDirStore(dir, { create: true });
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const [i, id] of ids.entries()) await s.updateDesired((d) => ({ ...d, datasets: { ...d.datasets, [id]: desiredEntry(`d${i}`) } }));
    assert.equal(readdirSync(path.join(dir, 'desired')).sort(), ids.map((id) => `${id}.json`).sort());
    await s.close();
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('a store others can write is refused (exit 4), as is a missing one without create', async () => {
  const { parent, dir } = fresh();
  try {
    await rejects(openDirStore(dir), exitCode(4));
    (await openDirStore(dir, { create: true })).close();
    chmodSync(dir, 0o770);
    await rejects(openDirStore(dir), (e: unknown) => exitCode(4)(e) && /others can write/.test((e as Error).message));
    chmodSync(dir, 0o700);
    chmodSync(path.join(dir, 'status'), 0o777);
    await rejects(openDirStore(dir), exitCode(4));
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('a corrupt or foreign document in the store is refused as input (exit 3), naming the file', async () => {
  const { parent, dir } = fresh();
  try {
    const s = await openDirStore(dir, { create: true });
    const id = randomUUID();
    const f = path.join(dir, 'desired', `${id}.json`);
    writeFileSync(f, '{"name":"x"');
    await rejects(s.readDesired(), (e: unknown) => exitCode(3)(e) && (e as Error).message.includes(f));
    writeFileSync(f, JSON.stringify({ ...desiredEntry('alpha'), mount: '/srv/../etc' }));
    await rejects(s.readDesired(), exitCode(3));
    rmSync(f);
    writeFileSync(path.join(dir, 'desired', 'x.json'), JSON.stringify(desiredEntry('alpha')));
    await rejects(s.readDesired(), exitCode(3));
    rmSync(path.join(dir, 'desired', 'x.json'));
    writeFileSync(path.join(dir, 'status', `${id}.json`), JSON.stringify(statusDoc(randomUUID())));
    await rejects(s.readStatuses(), exitCode(3), 'a status under another id');
    rmSync(path.join(dir, 'status', `${id}.json`));
    writeFileSync(path.join(dir, 'listing.json'), '[]');
    await rejects(s.readListing(), exitCode(3));
    writeFileSync(path.join(dir, 'nodes', 'n1.json'), JSON.stringify({ format: 'dvm.store-node/1', credentialed: 'yes', state: {} }));
    await rejects(s.readNodes(), exitCode(3));
    await s.close();
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('a temporary left by a writer that died is ignored by readers and removed by the next change', async () => {
  const { parent, dir } = fresh();
  try {
    const s = await openDirStore(dir, { create: true });
    const tmp = path.join(dir, 'desired', '.tmp-999999999-dead');
    writeFileSync(tmp, '{garbage');
    assert.equal((await s.readDesired()).value.datasets, {});
    await s.updateDesired((d) => ({ ...d, datasets: { [randomUUID()]: desiredEntry('alpha') } }));
    assert.not.ok(readdirSync(path.join(dir, 'desired')).includes('.tmp-999999999-dead'));
    await s.close();
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('explicit mounts may not nest or repeat', async () => {
  const { parent, dir } = fresh();
  try {
    const s = await openDirStore(dir, { create: true });
    await s.updateDesired((d) => ({ ...d, datasets: { [randomUUID()]: desiredEntry('a', { mount: '/srv/a' }), [randomUUID()]: desiredEntry('ab', { mount: '/srv/a-b' }) } }));
    for (const m of ['/srv/a/c', '/srv/a', '/srv', '/srv/a-b/x'])
      await rejects(
        s.updateDesired((d) => ({ ...d, datasets: { ...d.datasets, [randomUUID()]: desiredEntry('c', { mount: m }) } })),
        exitCode(3),
        m,
      );
    await s.updateDesired((d) => ({ ...d, datasets: { ...d.datasets, [randomUUID()]: desiredEntry('c', { mount: '/srv/ac' }) } }));
    await s.close();
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test.run();
