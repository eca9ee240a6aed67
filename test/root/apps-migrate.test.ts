// Migration of an application's data onto a dataset is exact and crash-safe:
// a fixture with hard links, symbolic links, sparse files, ACLs, extended
// attributes and several owners and modes, copied onto a real ext4 on a loop
// device, compared with `rsync -naHAXc --itemize-changes` and by sparse size;
// and the step sequence resumed after an interruption at every step.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { chmodSync, chownSync, existsSync, readdirSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensurePackages } from '../helpers/packages.js';
import { toDefinition, type AppDefinition } from '../../src/agent/apps/definition.js';
import { commandRunner } from '../../src/agent/apply/runner.js';
import { parseMountinfo } from '../../src/agent/apply/host.js';
import { mountAt, nextMigrationStep, observeMigration, runMigrationStep, unbind, type MigrationEffects } from '../../src/agent/apps/migrate.js';

const readMounts = () => parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));

ensurePackages({ rsync: '/usr/bin/rsync', acl: '/usr/bin/setfacl', attr: '/usr/bin/setfattr', e2fsprogs: '/sbin/mkfs.ext4' });

const work = mkdtempSync(path.join(tmpdir(), `dvmapps${process.pid}-`));
const loops: string[] = [];
const mounts: string[] = [];
const sh = (cmd: string, args: string[]) => execa(cmd, args);

async function dataset(name: string, size = 128 << 20): Promise<string> {
  const img = path.join(work, `${name}.img`);
  writeFileSync(img, '');
  truncateSync(img, size);
  const dev = (await sh('losetup', ['-f', '--show', img])).stdout.trim();
  loops.push(dev);
  await sh('mkfs.ext4', ['-q', '-F', dev]);
  const mnt = path.join(work, `${name}.mnt`);
  mkdirSync(mnt);
  await sh('mount', ['-o', 'nosuid,nodev', dev, mnt]);
  mounts.push(mnt);
  return mnt;
}

/** The fixture the issue names: every kind of thing a careless copy loses. */
async function fixture(dir: string): Promise<void> {
  mkdirSync(dir, { mode: 0o750 });
  chownSync(dir, 70, 70);
  writeFileSync(path.join(dir, 'plain'), 'hello\n');
  writeFileSync(path.join(dir, 'owned'), 'by 1234:5678\n');
  chownSync(path.join(dir, 'owned'), 1234, 5678);
  chmodSync(path.join(dir, 'owned'), 0o640);
  writeFileSync(path.join(dir, 'setgid-exec'), '#!/bin/sh\n');
  chmodSync(path.join(dir, 'setgid-exec'), 0o2755);
  linkSync(path.join(dir, 'plain'), path.join(dir, 'hardlink'));
  symlinkSync('plain', path.join(dir, 'symlink'));
  symlinkSync('/nonexistent/target', path.join(dir, 'dangling'));
  const sparse = path.join(dir, 'sparse');
  writeFileSync(sparse, '');
  truncateSync(sparse, 64 << 20);
  await sh('dd', ['if=/dev/urandom', `of=${sparse}`, 'bs=4096', 'count=4', 'seek=100', 'conv=notrunc', 'status=none']);
  mkdirSync(path.join(dir, 'sub/deeper'), { recursive: true });
  writeFileSync(path.join(dir, 'sub/deeper/acl'), 'acl\n');
  await sh('setfacl', ['-m', 'u:4321:rw', path.join(dir, 'sub/deeper/acl')]);
  await sh('setfacl', ['-d', '-m', 'g:99:rx', path.join(dir, 'sub')]);
  await sh('setfattr', ['-n', 'user.dvm', '-v', 'kept', path.join(dir, 'plain')]);
  await sh('setfattr', ['-n', 'trusted.dvm', '-v', 'root-only', path.join(dir, 'sub/deeper/acl')]);
  chmodSync(path.join(dir, 'sub'), 0o1777);
}

const du = async (p: string) => Number((await sh('du', ['-s', '--block-size=1', p])).stdout.split('\t')[0]);

function app(dataDir: string, migrate: 'copy' | 'none' = 'copy'): AppDefinition {
  return toDefinition('svc', { format: 'dvm.app/1', stop: ['true'], start: ['true'], data_dir: dataDir, migrate });
}

const fx: MigrationEffects = { run: commandRunner(), now: () => new Date('2026-12-02T03:00:00Z'), log: () => {} };

async function converge(a: AppDefinition, mnt: string, interruptAfter = Infinity): Promise<string[]> {
  const done: string[] = [];
  for (let i = 0; i < 10; i++) {
    const all = readMounts();
    const step = nextMigrationStep(a, observeMigration(a, mnt, mountAt(all, mnt), all));
    if (step.kind === 'done') return done;
    if (done.length >= interruptAfter) return done;
    await runMigrationStep(step, a, mnt, fx);
    done.push(step.kind);
  }
  throw new Error(`no convergence after 10 steps: ${done.join(' ')}`);
}

test('copy is exact: hard links, symlinks, sparse files, ACLs, xattrs, owners and modes', async () => {
  const mnt = await dataset('exact');
  const data = path.join(work, 'exact-data');
  await fixture(data);
  const reference = path.join(work, 'exact-reference');
  await sh('rsync', ['-aHAXS', '--numeric-ids', data + '/', reference + '/']);
  const a = app(data);
  const steps = await converge(a, mnt);
  assert.equal(steps, ['copy', 'set-aside', 'bind']);
  // The data directory now serves the dataset's copy; compare it with the untouched reference.
  const diff = await sh('rsync', ['-naHAXc', '--numeric-ids', '--delete', '--itemize-changes', reference + '/', data + '/']);
  assert.is(diff.stdout.trim(), '', `differences after migration:\n${diff.stdout}`);
  assert.ok(statSync(path.join(data, 'plain')).ino === statSync(path.join(data, 'hardlink')).ino, 'hard link kept');
  assert.ok(Math.abs((await du(path.join(data, 'sparse'))) - (await du(path.join(reference, 'sparse')))) <= 8192, 'sparse file stays sparse');
  assert.ok((await du(path.join(data, 'sparse'))) < 1 << 20);
  // The old directory is kept, renamed, untouched.
  const aside = `${data}.dvm-old-20261202T030000Z`;
  assert.ok(existsSync(aside));
  const old = await sh('rsync', ['-naHAXc', '--numeric-ids', '--delete', '--itemize-changes', reference + '/', aside + '/']);
  assert.is(old.stdout.trim(), '');
  // The dataset holds the data under its subdirectory.
  assert.is(readFileSync(path.join(mnt, 'data', 'plain'), 'utf8'), 'hello\n');
  await unbind(a, fx, readMounts());
  assert.ok(!mountAt(readMounts(), data));
});

test('interrupted after every step, the next pass resumes; the data in use is always complete', async () => {
  for (let k = 0; k < 3; k++) {
    const mnt = await dataset(`resume${k}`);
    const data = path.join(work, `resume${k}-data`);
    await fixture(data);
    const reference = path.join(work, `resume${k}-reference`);
    await sh('rsync', ['-aHAXS', '--numeric-ids', data + '/', reference + '/']);
    const a = app(data);
    const first = await converge(a, mnt, k);
    assert.is(first.length, k);
    // What the application would see now: nothing (set aside, not yet bound) or a complete data set.
    if (existsSync(data) && readdirSync(data).length > 0) {
      const diff = await sh('rsync', ['-naHAXc', '--numeric-ids', '--delete', '--itemize-changes', reference + '/', data + '/']);
      assert.is(diff.stdout.trim(), '', `after ${k} steps the data directory is neither empty nor complete:\n${diff.stdout}`);
    }
    const rest = await converge(a, mnt);
    assert.is(first.length + rest.length, 3, `${first} + ${rest}`);
    assert.is(readFileSync(path.join(data, 'plain'), 'utf8'), 'hello\n');
    await unbind(a, fx, readMounts());
  }
});

test('a copy killed midway leaves staging only; the data directory is untouched and the rerun completes', async () => {
  const mnt = await dataset('killed');
  const data = path.join(work, 'killed-data');
  await fixture(data);
  for (let i = 0; i < 200; i++) writeFileSync(path.join(data, `f${i}`), Buffer.alloc(64 << 10, i));
  const a = app(data);
  const child = execa('rsync', ['-aHAXS', '--numeric-ids', '--delete', '--bwlimit=2000', data + '/', path.join(mnt, '.dvm-migrate') + '/'], { reject: false });
  await new Promise((r) => setTimeout(r, 700));
  child.kill('SIGKILL');
  await child;
  const all = readMounts();
  const facts = observeMigration(a, mnt, mountAt(all, mnt), all);
  assert.ok(facts.staging && !facts.complete && !facts.switched);
  assert.is(nextMigrationStep(a, facts).kind, 'copy');
  assert.equal(await converge(a, mnt), ['copy', 'set-aside', 'bind']);
  assert.is(readFileSync(path.join(data, 'f199')).length, 64 << 10);
  await unbind(a, fx, readMounts());
});

test('migrate none, or nothing to copy: the dataset starts with an empty data directory owned as the old one', async () => {
  const mnt = await dataset('empty');
  const data = path.join(work, 'empty-data');
  mkdirSync(data, { mode: 0o700 });
  chownSync(data, 70, 70);
  const steps = await converge(app(data, 'copy'), mnt);
  assert.equal(steps, ['init-empty', 'bind']);
  const st = statSync(data);
  assert.is(st.uid, 70);
  assert.is(st.mode & 0o777, 0o700);
  await unbind(app(data), fx, readMounts());
});

test('a dataset that already holds the data is served as it is: no copy, nothing changed on it', async () => {
  const mnt = await dataset('held');
  mkdirSync(path.join(mnt, 'data'));
  writeFileSync(path.join(mnt, 'data', 'record'), 'made beforehand\n');
  const data = path.join(work, 'held-data');
  mkdirSync(data);
  writeFileSync(path.join(data, 'local'), 'the node had its own\n');
  const steps = await converge(app(data), mnt);
  assert.equal(steps, ['set-aside', 'bind']);
  assert.is(readFileSync(path.join(data, 'record'), 'utf8'), 'made beforehand\n');
  assert.ok(!existsSync(path.join(mnt, 'data', 'local')));
  await unbind(app(data), fx, readMounts());
});

test('something else mounted on the data directory is refused, not shadowed', async () => {
  const mnt = await dataset('foreign');
  const data = path.join(work, 'foreign-data');
  mkdirSync(data);
  await sh('mount', ['-t', 'tmpfs', 'tmpfs', data]);
  mounts.push(data);
  const all = readMounts();
  const step = nextMigrationStep(app(data), observeMigration(app(data), mnt, mountAt(all, mnt), all));
  assert.is(step.kind, 'refuse');
});

test('application hooks run through the agent runner: no credentials in their environment', async () => {
  process.env.OS_PASSWORD = 'secret-pw';
  const r = await commandRunner()('env', []);
  delete process.env.OS_PASSWORD;
  assert.is(r.code, 0);
  assert.not.match(r.stdout, /secret-pw/);
  assert.not.match(r.stdout, /OS_PASSWORD/);
});

test.after(async () => {
  for (const m of [...readMounts()].reverse()) if (m.path.startsWith(work)) await execa('umount', [m.path], { reject: false });
  for (const l of loops) await execa('losetup', ['-d', l], { reject: false });
  rmSync(work, { recursive: true, force: true });
});

test.run();
