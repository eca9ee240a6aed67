// The diagnostics an operator acts on: each situation listed in
// docs/exit-codes.md ("Where there is an obvious next step") is made to happen
// here on regular files, and its one line must end with the step the table
// names. A message reworded without its step fails here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, assertOneLineError, runBin } from '../helpers/cli.js';

const work = mkdtempSync(path.join(tmpdir(), 'dvm-next-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

function pvs(tag: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const f = path.join(work, `${tag}-${i}.img`);
    writeFileSync(f, '');
    truncateSync(f, 64 << 20);
    return f;
  });
}

async function ok(tool: string, args: string[], input?: string): Promise<string> {
  const r = await runBin(tool, args, { input });
  assert.is(r.exitCode, 0, `${tool} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('a stale PV: update refuses and names tm recover; verify names it too; recover then lets update through', async () => {
  const [a, b] = pvs('stale', 2);
  await ok('tm', ['init', 'vgs', a, b]);
  copyFileSync(a, `${a}.old`);
  await ok('tm', ['update', 'vgs', a, b, '--', 'lv-create', 'l1', '8M']);
  copyFileSync(`${a}.old`, a);
  assertOneLineError(await runBin('tm', ['update', 'vgs', a, b, '--', 'lv-create', 'l2', '8M']), 'tm', 1, /is at 2; run 'tm recover vgs' first$/);
  assertOneLineError(await runBin('tm', ['verify', 'vgs', a, b]), 'tm', 1, /run 'tm recover vgs'$/);
  await ok('tm', ['recover', 'vgs', a, b]);
  await ok('tm', ['update', 'vgs', a, b, '--', 'lv-create', 'l2', '8M']);
});

test('a missing PV: update names tm remove --missing; verify names both ways out', async () => {
  const [a, b] = pvs('miss', 2);
  await ok('tm', ['init', 'vgm', a, b]);
  assertOneLineError(await runBin('tm', ['update', 'vgm', a, '--', 'lv-create', 'l1', '8M']), 'tm', 1, /\('tm remove vgm --missing'\)$/);
  assertOneLineError(await runBin('tm', ['verify', 'vgm', a]), 'tm', 1, /replace it, or 'tm remove vgm --missing'\)$/);
});

test('activation given a regular file as a PV names losetup', async () => {
  const [a] = pvs('act', 1);
  await ok('tm', ['init', 'vga', a]);
  await ok('tm', ['update', 'vga', a, '--', 'lv-create', 'l1', '8M']);
  const envelope = await ok('tm', ['read', 'vga', a]);
  assertOneLineError(await runBin('vol-activate', ['--all'], { input: envelope }), 'vol-activate', 4, /attach a file with losetup\)$/);
});

test('the operator CLI: a private store, unknown and duplicate names, a shrink that grows name the way', async () => {
  const store = path.join(work, 'store');
  mkdirSync(store);
  const ds = (...args: string[]) => runBin('dataset', ['--store', store, ...args]);
  chmodSync(store, 0o777);
  assertOneLineError(await ds('list'), 'dataset', 4, /it must be private \(chmod 700\)$/);
  chmodSync(store, 0o700);
  assert.is((await ds('create', 'pg', '--size', '1G')).exitCode, 0);
  assertOneLineError(await ds('create', 'pg', '--size', '1G'), 'dataset', 1, /exists; choose another name \('dataset list' names them\)$/);
  assertOneLineError(await ds('grow', 'nope', '+1G'), 'dataset', 1, /no such dataset \('dataset list' names them\)$/);
  assertOneLineError(await ds('shrink', 'pg', '2G'), 'dataset', 1, /growing is 'dataset grow'$/);
  assertOneLineError(await ds('grow', 'pg', '512M'), 'dataset', 1, /shrinking is only 'dataset shrink'$/);
});

test('dataset node fence: a live node, an unknown one and a missing --yes name the way', async () => {
  const store = path.join(work, 'store-fence');
  mkdirSync(store, { mode: 0o700 });
  const ds = (...args: string[]) => runBin('dataset', ['--store', store, ...args]);
  const { openDirStore } = await import('../../src/agent/store/dir/dir-store.js');
  const agent = await openDirStore(store);
  try {
    await agent.writeNodeState({ format: 'dvm.node-state/1', node: 'n3', observed_at: new Date().toISOString(), mount_root: '/srv/d', devices: {}, stray_mounts: [], apps: [] }, { credentialed: false });
    assertOneLineError(await ds('node', 'fence', 'n3', '--yes'), 'dataset', 1, /\('dataset status' shows it alive\)$/);
  } finally {
    await agent.close();
  }
  assertOneLineError(await ds('node', 'fence', 'n9', '--yes'), 'dataset', 1, /\('dataset status' lists the nodes\)$/);
  assertOneLineError(await ds('node', 'fence', 'n3'), 'dataset', 2, /power it off or cut it from the storage first$/);
});

test('every next step this file checks is listed in docs/exit-codes.md', () => {
  const doc = readFileSync(path.join(ROOT, 'docs/exit-codes.md'), 'utf8');
  for (const step of ["run 'tm recover vg0' first", "'tm remove vg0 --missing'", 'attach a file with losetup', 'chmod 700', "'dataset list' names them", "growing is 'dataset grow'", "shrinking is only 'dataset shrink'", "('dataset status' shows it alive)", "('dataset status' lists the nodes)", 'power it off or cut it from the storage first'])
    assert.ok(doc.includes(step), `docs/exit-codes.md lists: ${step}`);
});

test.run();
