// The dataset agent end to end on OpenStack: two agents in this process
// (node-a credentialed, node-b without credentials) running the real loop —
// store (directory), planner, executor, real mkfs.xfs/xfs_repair/mount/xfs_growfs — on
// the OpenStack backend against the real Cinder with the Nova double (a test
// double). Create, attach, mkfs, mount, write, grow online, detach, move to
// the second node, destroy. Then: a Cinder error's message in the store with
// the token redacted, and no credential in the store or in mkfs's environment.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { openDirStore, type DirStore } from '../../src/agent/store/dir/dir-store.js';
import { runAgent } from '../../src/agent/loop/agent.js';
import { CallCounter, countingBackend } from '../../src/agent/loop/counting.js';
import { commandRunner, realHost } from '../../src/agent/apply/index.js';
import * as change from '../../src/agent/cli/changes.js';
import { views } from '../../src/agent/cli/views.js';
import { openOpenStack } from '../../src/agent/backends/openstack/open.js';
import { GiB } from '../../src/agent/backends/openstack/control.js';
import { ensurePackages } from '../helpers/packages.js';
import { PROJECT, startTestCloud, type TestCloud } from '../helpers/openstack/cloud.js';

const SECRET = 'never-anywhere-7f3a9c';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let cloud: TestCloud;
let ready: Promise<void> | null = null;
const t0 = Date.now();
const setup = () => (ready ??= (async () => {
  ensurePackages({ xfsprogs: '/sbin/mkfs.xfs', 'util-linux': '/sbin/blkid' });
  cloud = await startTestCloud();
  console.log(`cinder answered after ${cloud.cinder.startMs} ms`);
})());

test.after(async () => {
  await cloud?.stop();
  console.log(`openstack-agent: ${Math.round((Date.now() - t0) / 1000)} s in all`);
});

interface Running {
  done: Promise<void>;
  stop: AbortController;
  log: string[];
}

function start(dir: string, node: string, credentialed: boolean, cluster: string, mountRoot: string, wrappers: string): Running {
  const stop = new AbortController();
  const r: Running = { done: Promise.resolve(), stop, log: [] };
  r.done = (async () => {
    const store = await openDirStore(dir);
    const counter = new CallCounter();
    // node-a reads its cloud from the process environment, as an operator would give it.
    const backend = credentialed
      ? openOpenStack({ spec: 'openstack', node, credentialed: true, cluster, byIdRoot: cloud.byId(node), waitMs: 60_000, pollMs: 200, deviceWaitMs: 5000 })
      : openOpenStack({ spec: 'openstack', node, credentialed: false, cluster, byIdRoot: cloud.byId(node), deviceWaitMs: 5000 });
    try {
      await runAgent({
        node,
        credentialed,
        spec: 'openstack',
        store,
        backend: countingBackend(backend, counter),
        counter,
        host: realHost(commandRunner({ path: `${wrappers}:/usr/sbin:/usr/bin:/sbin:/bin` })),
        mountRoot,
        appsDir: null,
        once: false,
        log: (l) => r.log.push(l),
        abort: stop.signal,
      });
    } finally {
      await store.close();
    }
  })();
  return r;
}

async function converged(op: DirStore, what: string, agents: Running[], ms = 240_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const v = Object.values(views((await op.readDesired()).value, await op.readStatuses()));
    if (v.every((x) => x.converged)) return;
    if (Date.now() > until) assert.unreachable(`${what}: not converged: ${v.filter((x) => !x.converged).map((x) => `${x.name}: ${x.waiting}`).join('; ')}\n${agents.map((a) => a.log.slice(-20).join('\n')).join('\n---\n')}`);
    await sleep(250);
  }
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

test('create, attach, mkfs, mount, write, grow online, move to a second node, destroy; no credential in the store or a child', async () => {
  await setup();
  const dir = path.join(cloud.dir, 'store');
  const wrappers = path.join(cloud.dir, 'wrappers');
  const envLog = path.join(cloud.dir, 'child-env.log');
  mkdirSync(wrappers, { recursive: true });
  // mkfs, the check before mount and the grow record the environment they were given.
  for (const tool of ['mkfs.xfs', 'xfs_repair', 'xfs_growfs']) {
    const real = ['/sbin', '/usr/sbin'].map((d) => `${d}/${tool}`).find((f) => existsSync(f))!;
    writeFileSync(path.join(wrappers, tool), `#!/bin/sh\n{ echo "== ${tool}"; env; } >> '${envLog}'\nexec ${real} "$@"\n`);
    chmodSync(path.join(wrappers, tool), 0o755);
  }
  const op = await openDirStore(dir, { create: true });
  const cluster = (await op.readDesired()).value.cluster;
  const mnt = { a: path.join(cloud.dir, 'mnt-a'), b: path.join(cloud.dir, 'mnt-b') };
  mkdirSync(mnt.a, { recursive: true });
  mkdirSync(mnt.b, { recursive: true });
  const cloudsYaml = path.join(cloud.dir, 'clouds.yaml');
  const saved = { ...process.env };
  Object.assign(process.env, { OS_CLIENT_CONFIG_FILE: cloudsYaml, OS_CLOUD: 'standalone', OS_PASSWORD: SECRET, OS_APPLICATION_CREDENTIAL_SECRET: SECRET });
  const a = start(dir, 'node-a', true, cluster, mnt.a, wrappers);
  const b = start(dir, 'node-b', false, cluster, mnt.b, wrappers);
  try {
    await op.updateDesired((d) => change.create(d, { name: 'web', size: GiB, filesystem: 'xfs', node: 'node-a', mount: null, meta: {} }, new Date()));
    await converged(op, 'create', [a, b]);
    assert.not.ok(Object.keys(process.env).some((k) => k.startsWith('OS_')), 'the credentialed agent took the OS_* variables out of its environment');
    const vols = (await cloud.cinderGet('/volumes/detail')).volumes.filter((v: any) => v.name === 'dvm-web');
    assert.is(vols.length, 1, 'one Cinder volume for the dataset');
    const id: string = vols[0].id;
    assert.is(vols[0].status, 'in-use');
    const where = path.join(mnt.a, 'web');
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(mounts.includes(` ${where} `), `mounted at ${where}`);
    writeFileSync(path.join(where, 'hello.txt'), 'written on node-a\n');
    execFileSync('sync');

    await op.updateDesired((d) => change.move(d, 'web', 'node-b', new Date()));
    await converged(op, 'move', [a, b]);
    assert.not.ok(readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${where} `), 'unmounted on node-a');
    const there = path.join(mnt.b, 'web');
    assert.is(readFileSync(path.join(there, 'hello.txt'), 'utf8'), 'written on node-a\n', 'the data moved with it');
    const v2 = (await cloud.cinderGet(`/volumes/${id}`)).volume;
    assert.is(v2.attachments[0]?.host_name, 'node-b');

    // Grow online, on node-b now: Cinder extends the in-use volume, node-b
    // refreshes the device and xfs_growfs grows the mounted filesystem. Online
    // means the same mount throughout (its mountinfo id unchanged) and a file
    // held open across the grow still writable. (xfs: this kernel refuses
    // ext4's online resize ioctl, where the executor falls back to offline.)
    const mountId = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === there)?.split(' ')[0];
    const idBefore = mountId();
    assert.ok(idBefore, `mounted at ${there}`);
    const held = openSync(path.join(there, 'held-open.txt'), 'w');
    try {
      await op.updateDesired((d) => change.grow(d, 'web', GiB, true, new Date()));
      await converged(op, 'grow', [a, b]);
      assert.is(mountId(), idBefore, 'never unmounted: the grow was online');
      writeSync(held, 'still open after the grow\n');
    } finally {
      closeSync(held);
    }
    assert.is(readFileSync(path.join(there, 'held-open.txt'), 'utf8'), 'still open after the grow\n');
    const df = execFileSync('df', ['-B1', '--output=size', there], { encoding: 'utf8' }).trim().split('\n').pop()!;
    assert.ok(Number(df) > 1.5 * GiB, `the filesystem grew (${df} bytes)`);
    assert.is((await cloud.cinderGet(`/volumes/${id}`)).volume.size, 2);
    const devB = execFileSync('findmnt', ['-no', 'SOURCE', there], { encoding: 'utf8' }).trim();
    assert.is(Number(execFileSync('blockdev', ['--getsize64', devB], { encoding: 'utf8' }).trim()), 2 * GiB, 'node-b sees the grown device');

    // A Cinder error that carries the token: the dataset's status says so, with the token masked.
    cloud.proxy.inject('GET', /\/volumes\/detail$/, 'echo-500', 8);
    const seen: string[] = [];
    // A converged agent lists again only after its ~60 s (±20%) sleep: wait up to one whole sleep for it.
    for (let i = 0; i < 450 && seen.length === 0; i++) {
      for (const st of Object.values(await op.readStatuses())) if (st.error && /HTTP 500/.test(st.error)) seen.push(st.error);
      seen.push(...a.log.filter((l) => /HTTP 500/.test(l)));
      await sleep(200);
    }
    cloud.proxy.clear();
    assert.ok(seen.length > 0, 'the error was reported');
    assert.ok(seen.every((m) => !m.includes(`admin:${PROJECT}`) && m.includes('***')), `token masked: ${seen[0]}`);

    await op.updateDesired((d) => change.destroy(d, 'web', new Date()));
    await converged(op, 'destroy', [a, b]);
    const gone = await fetch(`${cloud.cinder.url}/v3/${PROJECT}/volumes/${id}`, { headers: { 'X-Auth-Token': `admin:${PROJECT}` } });
    assert.is(gone.status, 404, 'the volume is gone from Cinder');
    const mkfs = readFileSync(envLog, 'utf8');
    assert.is(mkfs.split('\n').filter((l) => l === '== mkfs.xfs').length, 1, 'one mkfs for the one volume');
    assert.ok(mkfs.includes('== xfs_growfs'), 'the grow ran xfs_growfs');

    // Credentials in none of the three places.
    assert.not.ok(/OS_|never-anywhere/.test(mkfs), 'no credential in the environment of mkfs.xfs, xfs_repair or xfs_growfs');
    const token = `admin:${PROJECT}`;
    for (const f of filesUnder(dir)) {
      const text = readFileSync(f, 'utf8');
      assert.not.ok(text.includes(SECRET), `no secret in ${f}`);
      assert.not.ok(text.includes(token), `no token in ${f}`);
    }
    assert.ok(a.log.concat(b.log).every((l) => !l.includes(token) && !l.includes(SECRET)), 'nor in the agents\' log lines');
    const fired = cloud.proxy.fired.filter((f) => f.startsWith('echo-500')).length;
    assert.ok(fired > 0, 'the token-echoing error did happen');
  } finally {
    a.stop.abort();
    b.stop.abort();
    await Promise.all([a.done, b.done]).catch(() => undefined);
    await op.close();
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    for (const m of [path.join(mnt.a, 'web'), path.join(mnt.b, 'web')]) {
      if (readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${m} `)) execFileSync('umount', [m]);
    }
  }
});

test.run();
