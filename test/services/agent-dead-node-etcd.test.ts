// A dead node, and a lost etcd member, under real agents: three agents (n1
// and n2 credentialed, n3 without a control plane) on a 3-member etcd and one
// loopback:DIR, each node in a mount namespace that outlives its agent (so a
// node whose agent is killed keeps its mounts, as a real machine would).
//
// 1. kill -9 of n3's agent while its dataset is mounted there: once its lease
//    expires, `dataset status` says n3 is dead and the dataset waits, saying
//    why; a move to n1 is refused by the planner for as long as n3's claim
//    stands (no detach, no second mount), and `move --wait` says where it is
//    stuck. The way out used here: n3's agent restarted, which finishes the
//    move (docs/etcd-store.md, "A dead node").
// 2. One of the three etcd members killed in the middle of a move: the move
//    finishes, files intact.
// 3. The other way out: n3 killed again and "powered off" (its mount and loop
//    device gone), a move to n1 waiting on it, then `dataset node fence n3`:
//    the credentialed node detaches the volume without n3's unmount and the
//    move finishes; n3's agent restarted while fenced says so and does
//    nothing; `dataset node unfence n3` puts it back to work.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { Cluster } from '../helpers/agent-cluster.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import type { DatasetStatus } from '../../src/agent/docs.js';
import { Etcd3 } from 'etcd3';

const TTL = 6;
const ENV = { DVM_ETCD_LEASE_TTL: String(TTL) };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let etcd: EtcdCluster;
let c: Cluster;
let sums = '';

const dump = () => ['n1', 'n2', 'n3'].map((n) => `--- ${n}\n${c.log(n).slice(-2500)}`).join('\n');

interface StatusDoc {
  datasets: Record<string, { name: string; converged: boolean; waiting: string | null; status: DatasetStatus | null }>;
  nodes: Record<string, { alive: boolean; leader: boolean; lease: { ttl: number; remaining: number } | null; holds: { name: string | null; mounted: string | null }[] }>;
}

async function statusJson(): Promise<StatusDoc> {
  const r = await c.dataset('status', '--json');
  assert.is(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusDoc;
}
const entryOf = (doc: StatusDoc, name: string) => Object.values(doc.datasets).find((d) => d.name === name)!;

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms = 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}\n${dump()}`);
    await sleep(300);
  }
}

async function waitLog(node: string, re: RegExp, ms = 30_000): Promise<void> {
  await until(`${re} in ${node}'s log`, async () => re.test(c.log(node)), ms);
}

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

const mountedOn = (node: string, where: string) => c.mountsOf(node).includes(` ${where} `);
const checksums = (node: string, dir: string) => c.inNode(node, 'sh', ['-c', `cd '${dir}' && sha256sum data`]);

test.before(async () => {
  etcd = await startEtcd({ members: 3 });
  c = new Cluster({ store: etcd.spec('dvm/dead'), nodeNamespaces: true });
  assert.is((await c.dataset('list')).exitCode, 0);
  c.start('n1', { credentialed: true, env: ENV });
  await waitLog('n1', /elected/);
  c.start('n2', { credentialed: true, env: ENV });
  c.start('n3', { env: ENV });
  await waitLog('n2', /pass /);
  await waitLog('n3', /pass /);
});

test.after(async () => {
  await c?.destroy();
  await etcd?.stop();
});

test('kill -9 of n3 while its dataset is mounted: status says n3 is dead and why the dataset waits; no other node takes the volume; n3 restarted finishes the move', async () => {
  const made = await c.dataset('create', 'a', '--size', '64M', '--node', 'n3', '--wait', '--timeout', '180');
  assert.is(made.exitCode, 0, `${made.stderr}\n${dump()}`);
  const where = path.join(c.mountRoot('n3'), 'a');
  assert.ok(mountedOn('n3', where), 'mounted on n3');
  c.inNode('n3', 'sh', ['-c', `head -c 1048576 /dev/urandom > '${where}/data' && sync`]);
  sums = checksums('n3', where);

  const killed = await c.stop('n3', 'SIGKILL');
  assert.is(killed.signal, 'SIGKILL');
  const t0 = Date.now();
  const dead = await until('n3 reported dead', async () => {
    const s = await statusJson();
    return s.nodes.n3 && !s.nodes.n3.alive && /not running an agent/.test(entryOf(s, 'a').waiting ?? '') ? s : null;
  });
  const lapse = Date.now() - t0;
  console.log(`  n3 seen dead ${lapse} ms after the kill (lease ${TTL} s)`);
  assert.ok(lapse >= (TTL - 2) * 1000, `not before its lease could have expired (${lapse} ms)`);
  const a = entryOf(dead, 'a');
  assert.not.ok(a.converged, 'a dataset on a dead node is not reported converged');
  assert.is(a.status!.phase, 'waiting');
  assert.match(a.waiting!, /node 'n3' is not running an agent .*last seen .*mounted at '.*\/a'/);
  assert.equal(dead.nodes.n3.holds.map((h) => [h.name, h.mounted]), [['a', where]], 'n3 holds a, as last seen');
  assert.ok(dead.nodes.n1.lease && dead.nodes.n1.lease.ttl === TTL, `live nodes show their lease: ${JSON.stringify(dead.nodes.n1)}`);
  const text = await c.dataset('status');
  assert.match(text.stdout, /\nn3\s+DEAD \(agent not running, lease gone\)\s+-\s+\S+ \(.+\)\s+a:\S+\/a \(last seen\)\n/, text.stdout);
  assert.match(text.stdout, /\nn1\s+alive \(lease 6 s, \d s left\)\s+(leader|standby)\s/, text.stdout);

  // The operator asks for it on n1; n3's claim stands (it may still write), so nothing moves.
  const from = { n1: c.log('n1').length, n2: c.log('n2').length };
  const move = await c.dataset('move', 'a', '--to', 'n1', '--wait', '--timeout', String(3 * TTL));
  assert.is(move.exitCode, 1, move.stderr);
  const last = move.stderr.trim().split('\n').pop()!;
  assert.match(last, /^dataset: move 'a': not on node 'n1' after 18 s, stuck at waiting: waiting: volume '\S+' is attached to node 'n3', whose agent is not running; it is detached only once that node's unmount is seen or the backend confirms the node is gone/);
  assert.ok(mountedOn('n3', where), 'still mounted on n3 (its machine is not ours to unmount)');
  assert.not.ok(mountedOn('n1', path.join(c.mountRoot('n1'), 'a')), 'not mounted on n1');
  assert.is(loopDevices().length, 1, `attached once: ${loopDevices().join('; ')}`);
  assert.not.ok(/ a (detach|attach) /.test(c.log('n1').slice(from.n1) + c.log('n2').slice(from.n2)), 'no detach or attach was tried');

  // The way out: n3's agent back (same machine, same mounts). It unmounts and releases; the move finishes.
  c.start('n3', { env: ENV });
  const done = await c.dataset('status', '--wait', '--timeout', '180');
  assert.is(done.exitCode, 0, `${done.stdout}${done.stderr}\n${dump()}`);
  const on1 = path.join(c.mountRoot('n1'), 'a');
  assert.ok(mountedOn('n1', on1), 'mounted on n1');
  assert.not.ok(mountedOn('n3', where), 'no longer on n3');
  assert.is(checksums('n1', on1), sums.replace(where, on1), 'the file came along');
  assert.is(c.mkfsCalls().length, 1, 'one mkfs');
});

/** The index of the member that leads etcd's raft now (the most disruptive one to lose). */
async function raftLeader(): Promise<number> {
  for (let i = 0; i < etcd.endpoints.length; i++) {
    const one = new Etcd3({ hosts: `http://${etcd.endpoints[i]}`, dialTimeout: 2000 });
    try {
      const s = await one.maintenance.status();
      if (s.leader === s.header.member_id) return i;
    } finally {
      one.close();
    }
  }
  throw new Error('no etcd member leads');
}

test('the leading one of three etcd members killed in the middle of a move: the agents finish it', async () => {
  const m = await raftLeader();
  const moving = c.dataset('move', 'a', '--to', 'n2', '--wait', '--timeout', '180');
  await waitLog('n1', / a unmount \S+ ok/, 60_000);
  await etcd.stopMember(m, true);
  const t0 = Date.now();
  try {
    const r = await moving;
    assert.is(r.exitCode, 0, `${r.stdout}${r.stderr}\n${dump()}`);
    console.log(`  move n1 -> n2 finished ${Date.now() - t0} ms after member m${m} (the raft leader) was killed`);
    assert.match(r.stderr, /: mounted on n2\n$/);
    assert.match(r.stdout, /\na\s+n2\s+64\.00m\s+converged\s+n2:/);
    const on2 = path.join(c.mountRoot('n2'), 'a');
    assert.ok(mountedOn('n2', on2));
    assert.is(checksums('n2', on2), sums.replace(path.join(c.mountRoot('n3'), 'a'), on2), 'files intact');
    assert.is(loopDevices().length, 1, 'attached once');
    // Still converging on two members: the next move lands too.
    const back = await c.dataset('move', 'a', '--to', 'n3', '--wait', '--timeout', '120');
    assert.is(back.exitCode, 0, `${back.stderr}\n${dump()}`);
    assert.ok(mountedOn('n3', path.join(c.mountRoot('n3'), 'a')));
  } finally {
    await etcd.startMember(m);
  }
  assert.is(c.mkfsCalls().length, 1, 'still one mkfs');
});

test('dataset node fence: refused while n3 runs; after its kill and power-off, the waiting move off it finishes; its agent back does nothing until unfenced', async () => {
  const where = path.join(c.mountRoot('n3'), 'a');
  assert.ok(mountedOn('n3', where), 'a is on n3 (the previous test moved it back)');
  const alive = await c.dataset('node', 'fence', 'n3', '--yes');
  assert.is(alive.exitCode, 1, alive.stderr);
  assert.match(alive.stderr, /^dataset: node 'n3': its agent is running \(its lease is alive .*a live node is not fenced/);

  await c.stop('n3', 'SIGKILL');
  // Powered off: its mount and its loop device go with the machine (what the operator makes sure of before fencing).
  c.inNode('n3', 'umount', [where]);
  for (const line of loopDevices()) execFileSync('losetup', ['-d', line.split(':')[0]]);
  assert.is(loopDevices().length, 0);
  await until('n3 reported dead', async () => !(await statusJson()).nodes.n3.alive);

  const moving = c.dataset('move', 'a', '--to', 'n1', '--wait', '--timeout', '120');
  await until('the move waiting on n3', async () => /whose agent is not running; it is detached only once/.test(entryOf(await statusJson(), 'a').waiting ?? ''));
  const t0 = Date.now();
  const fenced = await c.dataset('node', 'fence', 'n3', '--yes', '--reason', 'powered off by the test');
  assert.is(fenced.exitCode, 0, fenced.stderr);
  assert.match(fenced.stdout, /^node 'n3' fenced: it counts as gone; its volumes are detached without its unmount \(a\)/);
  const r = await moving;
  assert.is(r.exitCode, 0, `${r.stdout}${r.stderr}\n${dump()}`);
  console.log(`  move n3 -> n1 finished ${Date.now() - t0} ms after the fence`);
  assert.match(r.stderr, /detaching from n3 \(detaching volume '\S+' from node 'n3', which is fenced since .* \(powered off by the test\)/);
  assert.match(r.stderr, /: mounted on n1\n$/);
  const on1 = path.join(c.mountRoot('n1'), 'a');
  assert.ok(mountedOn('n1', on1));
  assert.is(checksums('n1', on1), sums.replace(path.join(c.mountRoot('n3'), 'a'), on1), 'files intact');
  assert.is(loopDevices().length, 1, 'attached once');
  assert.is(c.mkfsCalls().length, 1, 'still one mkfs');
  const text = await c.dataset('status');
  assert.match(text.stdout, /\nn3\s+FENCED since \S+ by \S+ \(powered off by the test\); agent not running\s/, text.stdout);

  // n3's agent back while fenced: it says so, makes no step, takes nothing.
  const from = c.log('n3').length;
  c.start('n3', { env: ENV });
  await waitLog('n3', /node 'n3' is fenced since .* \(powered off by the test\): this agent mounts and uses nothing/);
  await sleep(2000);
  const since = c.log('n3').slice(from);
  assert.not.match(since, / a [a-z-]+ \S+ (ok|failed)/, 'no step on a fenced node');
  assert.not.ok((await statusJson()).nodes.n3.alive, 'a fenced agent is not counted alive');
  assert.is(loopDevices().length, 1, 'nothing attached for n3');

  const un = await c.dataset('node', 'unfence', 'n3');
  assert.is(un.exitCode, 0, un.stderr);
  await waitLog('n3', /node 'n3' is no longer fenced: back to work/);
  await until('n3 alive again', async () => (await statusJson()).nodes.n3.alive);
  const done = await c.dataset('status', '--wait', '--timeout', '60');
  assert.is(done.exitCode, 0, `${done.stdout}${done.stderr}\n${dump()}`);
  assert.ok(mountedOn('n1', on1), 'still on n1');
});

test.run();
