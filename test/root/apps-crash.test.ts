// An application's migration survives the agent's death anywhere: the agent
// is SIGKILLed at each external command and backend call boundary of the
// migration (the executor's DVM_AGENT_KILL_AT=k hook) and at 30 random
// moments during it, then restarted. Between the kill and the restart the
// data directory is the old one untouched, or nothing (set aside, not yet
// switched), or the complete copy; after the restart the service runs from
// the dataset on a complete data set, exactly one copy of it (the stand-in
// holds a lock and records a start while another copy runs), the old
// directory kept once, no staging left, one mkfs. The node is a mount
// namespace that outlives its agent, as a real node's mounts do.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Cluster } from '../helpers/agent-cluster.js';
import { ensurePackages } from '../helpers/packages.js';
import { clearRuntime, defineApp, mountLine, nodeName, premadeVolume, records, standinApp, STANDIN, waitConverged } from '../helpers/apps-cluster.js';
import { openDirStore } from '../../src/agent/store/dir/dir-store.js';
import { applyVolumeMap, parseVolumeMap } from '../../src/agent/apps/volume-map.js';
import type { Volume } from '../../src/agent/docs.js';

const MiB = 1 << 20;
const N1 = nodeName(1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const standin = (...args: string[]) => execFileSync('sh', [STANDIN, ...args], { encoding: 'utf8' });

interface Run {
  c: Cluster;
  dataDir: string;
  lock: string;
  original: Map<string, string>;
  boundaryLog: string;
}

/** A fresh node with the stand-in running from a plain directory and, in the desired state, a map giving it an empty volume. */
async function setup(): Promise<Run> {
  const c = new Cluster({ nodeNamespaces: true });
  const w = c.work;
  const dataDir = path.join(w, 'node', 'svc');
  const lock = path.join(w, 'svc.lock');
  mkdirSync(dataDir, { recursive: true, mode: 0o750 });
  // Enough to make the copy take a moment: 100 files of 128 KiB besides the records.
  mkdirSync(path.join(dataDir, 'bulk'));
  for (let i = 0; i < 100; i++) writeFileSync(path.join(dataDir, 'bulk', `f${i}`), Buffer.alloc(128 << 10, i));
  standin('start', dataDir, lock);
  standin('stop', dataDir, lock);
  standin('start', dataDir, lock); // left running: the agent stops it before the copy
  defineApp(c, N1, 'svc', standinApp(dataDir, lock));
  const id = premadeVolume(c, 64 * MiB);
  const vol: Volume = { id, dataset: null, name: id, size: 64 * MiB, status: 'available', attached: null, metadata: {} };
  const s = await openDirStore(c.store, { create: true });
  try {
    await s.updateDesired((doc) => applyVolumeMap({ doc, map: parseVolumeMap(JSON.stringify({ 'svc/0': id }), N1), volumes: [vol], now: new Date().toISOString(), newId: randomUUID }).doc);
  } finally {
    await s.close();
  }
  return { c, dataDir, lock, original: records(c, null, dataDir), boundaryLog: path.join(w, 'boundaries.log') };
}

function startAgent(r: Run, env: Record<string, string> = {}) {
  return r.c.start(N1, { credentialed: true, args: ['--apps-dir', path.join(r.c.work, `apps-${N1}`)], env });
}

const verifies = (c: Cluster, dir: string) => {
  try {
    c.inNode(N1, 'sh', ['-c', `cd '${dir}' && sha256sum --quiet --strict -c MANIFEST`]);
    return true;
  } catch {
    return false;
  }
};

/** What the application would find at its data directory right now: the old data, nothing, or a complete copy. */
function inUse(r: Run, what: string): 'old' | 'none' | 'new' {
  const bound = mountLine(r.c, N1, r.dataDir);
  const listing = r.c.inNode(N1, 'sh', ['-c', `ls -A '${r.dataDir}' 2>/dev/null || true`]).trim();
  if (!bound) {
    if (listing === '') return 'none';
    assert.equal(records(r.c, N1, r.dataDir), r.original, `${what}: the plain directory holds exactly the old data`);
    assert.ok(verifies(r.c, r.dataDir), `${what}: the old data verifies`);
    return 'old';
  }
  assert.ok(verifies(r.c, r.dataDir), `${what}: the dataset's copy in use is complete`);
  const now = records(r.c, N1, r.dataDir);
  for (const [f, h] of r.original) assert.is(now.get(f), h, `${what}: record ${f} intact on the dataset`);
  return 'new';
}

/** After convergence: one copy running, from the dataset, on complete data; the old directory kept once. */
function checkEnd(r: Run, what: string): { starts: number } {
  assert.is(inUse(r, what), 'new', `${what}: served from the dataset`);
  const bind = mountLine(r.c, N1, r.dataDir)!;
  assert.is(bind.split(' ')[3], '/data', `${what}: the data directory is the dataset's data/`);
  const mnt = path.join(r.c.mountRoot(N1), 'svc-0');
  assert.is(r.c.inNode(N1, 'sh', ['-c', `test -e '${mnt}/.dvm-migrate' && echo staging || true`]).trim(), '', `${what}: no staging left`);
  const aside = r.c.inNode(N1, 'sh', ['-c', `ls -d '${r.dataDir}'.dvm-old-* 2>/dev/null || true`]).trim().split('\n').filter((l) => l);
  assert.is(aside.length, 1, `${what}: the old directory kept once: ${aside.join(' ')}`);
  assert.equal(records(r.c, N1, aside[0]), r.original, `${what}: the old directory untouched`);
  assert.not.ok(existsSync(r.lock + '.violations'), `${what}: a second copy was started: ${existsSync(r.lock + '.violations') ? readFileSync(r.lock + '.violations', 'utf8') : ''}`);
  const pid = Number(readFileSync(r.lock + '.pid', 'utf8'));
  const daemons = execFileSync('sh', ['-c', `for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ 2>/dev/null | grep -qx 'LOCK=${r.lock}' && echo \${p#/proc/}; done; true`], { encoding: 'utf8' }).trim().split('\n').filter((l) => l);
  assert.equal(daemons.map(Number), [pid], `${what}: exactly one copy runs`);
  const served = readFileSync(r.lock + '.served', 'utf8').trim().split('\n');
  assert.is(served[served.length - 1], r.dataDir);
  assert.is(r.c.mkfsCalls().length, 1, `${what}: one mkfs: ${r.c.mkfsCalls().join('; ')}`);
  // Two manual starts before the map; the rest are starts on the dataset (more than one only after a kill between a start and its record).
  return { starts: served.length - 2 };
}

async function finish(r: Run): Promise<void> {
  await r.c.destroy();
  clearRuntime([N1]);
}

const isMigration = (label: string) => /standin-service\.sh |^(before|after) (flock|rsync|sync|mount --bind|umount)/.test(label);

test.before(() => ensurePackages({ rsync: '/usr/bin/rsync', e2fsprogs: '/sbin/mkfs.ext4', 'util-linux': '/usr/bin/flock' }));

let windowMs = 1000;
let migrationKs: { k: number; label: string }[] = [];

test('no kill: the migration converges; its boundaries are counted', async () => {
  const r = await setup();
  try {
    startAgent(r, { DVM_AGENT_BOUNDARY_LOG: r.boundaryLog });
    await migrationBegun(r, 'no kill', () => false);
    const t0 = Date.now();
    // The window for random kills: from the stop hook to the end of the start hook.
    while (!/after sh \S*standin-service\.sh start /.test(readFileSync(r.boundaryLog, 'utf8'))) {
      if (Date.now() - t0 > 60_000) throw new Error(`no start after 60 s\n${r.c.logs()}`);
      await sleep(10);
    }
    windowMs = Math.max(300, Date.now() - t0);
    await waitConverged(r.c, 'no kill', 120);
    const { starts } = checkEnd(r, 'no kill');
    assert.is(starts, 1, 'started once');
    const lines = readFileSync(r.boundaryLog, 'utf8').split('\n').filter((l) => l);
    const labels = lines.map((l) => l.slice(l.indexOf(' ') + 1));
    const first = labels.findIndex(isMigration);
    const last = labels.length - 1 - [...labels].reverse().findIndex((l) => /standin-service\.sh start /.test(l));
    assert.ok(first >= 0 && last > first, `the migration's boundaries are found: ${first}..${last}`);
    migrationKs = labels.slice(first, last + 1).map((label, i) => ({ k: first + i + 1, label })).filter((x) => isMigration(x.label));
    assert.ok(migrationKs.length >= 12, `${migrationKs.length} boundaries in the migration`);
  } finally {
    await finish(r);
  }
});

/** Waits for the migration's first boundary (the stop hook), polling the boundary log. */
async function migrationBegun(r: Run, what: string, dead: () => boolean): Promise<void> {
  const end = Date.now() + 60_000;
  while (!(existsSync(r.boundaryLog) && /standin-service\.sh stop /.test(readFileSync(r.boundaryLog, 'utf8')))) {
    if (Date.now() > end || dead()) throw new Error(`${what}: the migration did not begin\n${r.c.logs()}`);
    await sleep(10);
  }
}

/** Runs one kill (at boundary k, or after `delayMs` once the migration began), checks the state in between and after a restart. */
async function killRun(what: string, opt: { k?: number; delayMs?: number }): Promise<{ killed: boolean; label: string; between: string; starts: number }> {
  const r = await setup();
  try {
    const env: Record<string, string> = { DVM_AGENT_BOUNDARY_LOG: r.boundaryLog };
    if (opt.k) env.DVM_AGENT_KILL_AT = String(opt.k);
    const a = startAgent(r, env);
    let dead = false;
    void a.exited.then(() => (dead = true));
    if (opt.delayMs !== undefined) {
      await migrationBegun(r, what, () => dead);
      await sleep(opt.delayMs);
      await r.c.stop(N1, 'SIGKILL');
    } else {
      const e = await Promise.race([a.exited, sleep(90_000).then(() => null)]);
      if (!e) throw new Error(`${what}: the agent was not killed at boundary ${opt.k}\n${r.c.logs()}`);
      assert.is(e.signal, 'SIGKILL', `${what}: died of the kill hook:\n${r.c.logs()}`);
      r.c.agents.delete(N1);
    }
    const lines = readFileSync(r.boundaryLog, 'utf8').trim().split('\n');
    const label = lines[lines.length - 1] ?? '';
    const between = inUse(r, `${what}, killed at '${label}'`);
    startAgent(r);
    await waitConverged(r.c, `${what}: after the restart (killed at '${label}')`, 180);
    const { starts } = checkEnd(r, `${what}, killed at '${label}'`);
    await r.c.stop(N1);
    return { killed: true, label, between, starts };
  } finally {
    await finish(r);
  }
}

test('killed at each boundary of the migration, restarted: served from a complete copy, one copy running', async () => {
  const t0 = Date.now();
  const seen: string[] = [];
  const tally = { old: 0, none: 0, new: 0 };
  for (const { k, label } of migrationKs) {
    const r = await killRun(`boundary ${k} (${label})`, { k });
    tally[r.between as keyof typeof tally]++;
    seen.push(`${k}:${r.between}:${r.starts}`);
  }
  assert.ok(tally.old > 0 && tally.new > 0, `kills fell before and after the switch: ${JSON.stringify(tally)}`);
  console.log(`NOTE apps-crash: ${migrationKs.length} boundary kills (${((Date.now() - t0) / 1000).toFixed(0)} s); in use between kill and restart ${JSON.stringify(tally)}; k:between:starts ${seen.join(' ')}`);
});

test('killed at 30 random moments of the migration, restarted each time: the same', async () => {
  const t0 = Date.now();
  const tally = { old: 0, none: 0, new: 0 };
  const labels = new Set<string>();
  let doubles = 0;
  for (let i = 0; i < 30; i++) {
    const delayMs = Math.floor(Math.random() * windowMs);
    const r = await killRun(`random kill ${i + 1} after ${delayMs} ms`, { delayMs });
    tally[r.between as keyof typeof tally]++;
    labels.add(r.label.replace(/^\d+ /, '').slice(0, 40));
    if (r.starts > 1) doubles++;
  }
  console.log(`NOTE apps-crash: 30 random kills in a ${windowMs} ms window; in use between kill and restart ${JSON.stringify(tally)}; ${labels.size} distinct last boundaries; ${doubles} runs started the service twice (stop first, one copy); ${((Date.now() - t0) / 1000).toFixed(0)} s`);
});

test.run();
