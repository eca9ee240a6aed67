// Several nodes on one etcd and one loopback:DIR, real loop devices, mkfs and
// mounts: n1 and n2 credentialed (one leads, the other stands by), n3 with no
// credentials at all (its backend has no control plane), each agent in its own
// mount namespace. Backend calls are counted by each agent's counting wrapper
// and logged per pass; mkfs goes through a wrapper that records each run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ensurePackages } from '../helpers/packages.js';
import { Cluster } from '../helpers/agent-cluster.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import type { DatasetStatus } from '../../src/agent/docs.js';
import { openEtcdStore } from '../../src/agent/store/etcd/etcd-store.js';

// Generous for a loaded 2-core machine (a lapsed lease under load is a real
// leadership change, which would make the cases below nondeterministic).
const TTL = 6;
const ENV = { DVM_ETCD_LEASE_TTL: String(TTL) };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let etcd: EtcdCluster;
let c: Cluster;

function dump(): string {
  return ['n1', 'n2', 'n3'].map((n) => `--- ${n}\n${c.log(n).slice(-2500)}`).join('\n');
}

async function waitConverged(what: string, timeout = 120): Promise<number> {
  const t0 = Date.now();
  const r = await c.dataset('status', '--wait', '--timeout', String(timeout));
  if (r.exitCode !== 0) throw new Error(`${what}: status --wait exited ${r.exitCode}\n${r.stdout}${r.stderr}\n${dump()}`);
  return Date.now() - t0;
}

async function waitLog(node: string, re: RegExp, ms = 20_000, from = 0): Promise<void> {
  const t0 = Date.now();
  while (!re.test(c.log(node).slice(from))) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${re} in ${node}'s log\n${dump()}`);
    await sleep(100);
  }
}

async function statusOf(name: string): Promise<DatasetStatus> {
  const r = await c.dataset('status', '--json');
  assert.is(r.exitCode, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { datasets: Record<string, { name: string; status: DatasetStatus }> };
  return Object.values(doc.datasets).find((d) => d.name === name)!.status;
}

interface PassLine {
  /** When the pass began (its log time less its duration). */
  startedAt: number;
  role: 'leading' | 'standby' | null;
  control: Record<string, number>;
}

/** The per-pass backend call counts an agent logged (after `from` characters of its log). */
function passes(node: string, from = 0): PassLine[] {
  return c
    .log(node)
    .slice(from)
    .split('\n')
    .map((l) => /^(\S+) \S+ pass .*?(?:, (leading|standby))? in (\d+) ms; backend calls: control ([^;]*);/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ startedAt: Date.parse(m[1]) - Number(m[3]), role: (m[2] ?? null) as PassLine['role'], control: m[4] === 'none' ? {} : Object.fromEntries(m[4].split(',').map((kv) => [kv.split('=')[0], Number(kv.split('=')[1])])) }));
}

const controlCalls = (ps: PassLine[]) => ps.reduce((n, p) => n + Object.values(p.control).reduce((a, b) => a + b, 0), 0);

function checksums(node: string, dir: string): string {
  return c.inNode(node, 'sh', ['-c', `cd '${dir}' && sha256sum data dir/note`]);
}

/** Loop devices backed by the dataset images (attached anywhere on this machine). */
function loopDevices(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.img')) out.push(...execFileSync('losetup', ['-j', p], { encoding: 'utf8' }).split('\n').filter(Boolean));
    }
  };
  walk(c.lb);
  return out;
}

test.before(async () => {
  ensurePackages({ 'e2fsprogs': '/sbin/mkfs.ext4', 'util-linux': '/usr/bin/unshare' });
  etcd = await startEtcd();
  c = new Cluster({ store: etcd.spec('dvm/cluster') });
  // The operator makes the cluster id before any agent starts.
  const r = await c.dataset('list');
  assert.is(r.exitCode, 0, r.stderr);
});

test.after(async () => {
  await c?.destroy();
  await etcd?.stop();
});

test('three nodes: moves n1 -> n3 -> n2 keep the files; one listing per pass in the cluster; n3 makes no control call', async () => {
  c.start('n1', { credentialed: true, env: ENV });
  await waitLog('n1', /elected/);
  c.start('n2', { credentialed: true, env: ENV });
  c.start('n3', { env: ENV });
  await waitLog('n2', /pass /);
  await waitLog('n3', /pass /);
  assert.is((await c.dataset('create', 'a', '--size', '64M', '--node', 'n1')).exitCode, 0);
  await waitConverged('create a on n1');
  let st = (await statusOf('a')).observed!;
  assert.is(st.node, 'n1');
  c.inNode('n1', 'sh', ['-c', `head -c 2097152 /dev/urandom > '${st.mounted}/data' && mkdir '${st.mounted}/dir' && echo hello > '${st.mounted}/dir/note' && sync`]);
  const sums = checksums('n1', st.mounted!);

  for (const to of ['n3', 'n2']) {
    const r = await c.dataset('move', 'a', '--to', to);
    assert.is(r.exitCode, 0, r.stderr);
    const took = await waitConverged(`move a to ${to}`);
    console.log(`  move to ${to}: converged in ${took} ms`);
    st = (await statusOf('a')).observed!;
    assert.is(st.node, to);
    assert.ok(c.mountsOf(to).includes(` ${st.mounted} `), `mounted in ${to}'s namespace`);
    assert.is(checksums(to, st.mounted!), sums, `the files came along to ${to}`);
  }
  for (const n of ['n1', 'n3']) assert.not.ok(c.mountsOf(n).includes(` ${st.mounted} `), `not mounted on ${n} any more`);

  // Counted at each agent's backend wrapper, per pass.
  const p1 = passes('n1');
  const p2 = passes('n2');
  const p3 = passes('n3');
  assert.ok(p1.length > 3 && p2.length > 3 && p3.length > 3, 'every agent ran passes');
  assert.is(controlCalls(p3), 0, 'n3 made no control call');
  assert.ok(/pass .*backend calls: control none/.test(c.log('n3')), 'n3 logs its (empty) control counts');
  for (const [n, ps] of [['n1', p1], ['n2', p2]] as const) {
    assert.ok(ps.filter((p) => p.role === 'leading').every((p) => p.control.list === 1), `${n}: exactly one listing in each pass it leads`);
    assert.is(controlCalls(ps.filter((p) => p.role === 'standby')), 0, `${n}: no control call in a pass as standby (it reads the shared listing)`);
  }
  assert.ok(p1.some((p) => p.role === 'leading'), 'n1 led');
  assert.is(c.mkfsCalls().length, 1, `one mkfs: ${c.mkfsCalls().join('; ')}`);
  assert.is(loopDevices().length, 1, `one loop device for the one volume: ${loopDevices().join('; ')}`);

  const nodes = await c.dataset('status');
  assert.is(nodes.exitCode, 0, nodes.stderr);
});

/** Who leads, as the store says (the election key's holder, alive and credentialed). */
async function leaderNow(): Promise<'n1' | 'n2' | null> {
  const s = await openEtcdStore(etcd.spec('dvm/cluster'));
  try {
    const nodes = await s.readNodes();
    return (Object.entries(nodes).find(([, e]) => e.leader)?.[0] as 'n1' | 'n2' | undefined) ?? null;
  } finally {
    await s.close();
  }
}

async function waitLeading(node: string, _from: number, ms = 40_000): Promise<void> {
  const t0 = Date.now();
  while ((await leaderNow()) !== node) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${node} to lead\n${dump()}`);
    await sleep(300);
  }
}

test('kill -9 of the leader mid-move: the standby is elected and finishes; nothing attached or formatted twice', async () => {
  // a is on n2; move it to n3 and kill the leader once n2 has unmounted it.
  const leader = (await leaderNow())!;
  assert.ok(leader, 'someone leads');
  const standby = leader === 'n1' ? 'n2' : 'n1';
  const from = c.log('n2').length;
  const fromStandby = c.log(standby).length;
  const r = await c.dataset('move', 'a', '--to', 'n3');
  assert.is(r.exitCode, 0, r.stderr);
  await waitLog('n2', /a (app-stop|unmount|release) \S* ?ok/, 60_000, from);
  const killed = await c.stop(leader, 'SIGKILL');
  assert.is(killed.signal, 'SIGKILL');
  await waitLeading(standby, fromStandby);
  await waitConverged('move a to n3 after the leader died', 180);
  const st = (await statusOf('a')).observed!;
  assert.is(st.node, 'n3');
  assert.ok(c.mountsOf('n3').includes(` ${st.mounted} `));
  assert.is(c.mkfsCalls().length, 1, 'still one mkfs');
  assert.is(loopDevices().length, 1, `attached once: ${loopDevices().join('; ')}`);
  assert.is(controlCalls(passes('n3')), 0, 'n3 still made no control call');
  const before = c.log(leader).length;
  c.start(leader, { credentialed: true, env: ENV });
  await waitLog(leader, /pass /, 30_000, before);
});

test('SIGSTOP of the leader past its lease: the other takes over and acts; after SIGCONT the old leader makes zero control calls', async () => {
  const leaderName = (await leaderNow())!;
  assert.ok(leaderName, 'someone leads');
  const other = leaderName === 'n1' ? 'n2' : 'n1';
  const fromOther = c.log(other).length;
  const leader = c.agents.get(leaderName)!;
  leader.child.kill('SIGSTOP');
  let from = 0;
  let contAt = 0;
  try {
    await waitLeading(other, fromOther);
    const r = await c.dataset('move', 'a', '--to', other);
    assert.is(r.exitCode, 0, r.stderr);
    await waitConverged(`move a to ${other} while ${leaderName} is stopped`, 180);
    assert.is((await statusOf('a')).observed!.node, other);
  } finally {
    from = c.log(leaderName).length;
    contAt = Date.now();
    leader.child.kill('SIGCONT');
  }
  await waitLog(leaderName, /election lost/, 30_000, from);
  await sleep(TTL * 1000 * 2);
  // A pass that was under way when the process stopped logs, on waking, the
  // calls it made before: count only passes begun after SIGCONT.
  const after = passes(leaderName, from).filter((p) => p.startedAt >= contAt);
  assert.ok(after.length > 0, `${leaderName} runs passes again`);
  assert.is(controlCalls(after), 0, `zero control calls by ${leaderName} after SIGCONT: ${JSON.stringify(after)}`);
  assert.ok(after.every((p) => p.role === 'standby'), `${leaderName} is a standby now`);
  assert.is(c.mkfsCalls().length, 1, 'still one mkfs');
  assert.is(loopDevices().length, 1, 'attached once');
});

test('the etcd member stopped under the agents: they report the store unreachable, keep the mount, converge when it is back', async () => {
  const st = (await statusOf('a')).observed!;
  const holder = st.node!;
  const from = c.log(holder).length;
  await etcd.stopMember(0);
  try {
    await waitLog(holder, /unreachable/, 60_000, from);
    await sleep(TTL * 1000 + 1000);
    assert.ok(c.mountsOf(holder).includes(` ${st.mounted} `), 'still mounted while the store is away');
  } finally {
    await etcd.startMember(0);
  }
  const r = await c.dataset('move', 'a', '--to', 'n3');
  assert.is(r.exitCode, 0, r.stderr);
  await waitConverged('move a to n3 after the store came back', 180);
  assert.is((await statusOf('a')).observed!.node, 'n3');
  assert.is(c.mkfsCalls().length, 1, 'still one mkfs');
});

test.run();
