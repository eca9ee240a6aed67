// The credentialed election and its fencing with real processes (a lease is
// only truly abandoned by a process that dies or is stopped): two candidates
// on one etcd, each making a fenced "control call" every 100 ms that appends
// to a calls file (the stand-in backend counts what reaches it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { openEtcdStore } from '../../src/agent/store/etcd/etcd-store.js';

const CANDIDATE = fileURLToPath(new URL('../helpers/etcd-candidate.js', import.meta.url));
const TTL = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Candidate {
  node: string;
  proc: ChildProcess;
  lines: { at: number; text: string }[];
}

function candidate(spec: string, node: string, calls: string): Candidate {
  const proc = spawn(process.execPath, [CANDIDATE, spec, node, calls, String(TTL)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const c: Candidate = { node, proc, lines: [] };
  let buf = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      c.lines.push({ at: Date.now(), text: buf.slice(0, i) });
      buf = buf.slice(i + 1);
    }
  });
  return c;
}

async function waitFor(what: string, check: () => boolean, ms = 15_000): Promise<number> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) assert.unreachable(`timed out (${ms} ms) waiting for: ${what}`);
    await sleep(20);
  }
  return Date.now() - t0;
}

const said = (c: Candidate, text: string) => c.lines.filter((l) => l.text === text).length;

function callsOf(file: string): { node: string; at: number }[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [node, at] = l.split(' ');
      return { node, at: Number(at) };
    });
}

async function kill(c: Candidate): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const gone = new Promise((r) => c.proc.once('exit', r));
  c.proc.kill('SIGCONT');
  c.proc.kill('SIGKILL');
  await gone;
}

async function withCluster(fn: (etcd: EtcdCluster, spec: string, calls: string, started: Candidate[]) => Promise<void>): Promise<void> {
  const etcd = await startEtcd();
  const dir = mkdtempSync(path.join(tmpdir(), 'dvm-election-'));
  const started: Candidate[] = [];
  try {
    await fn(etcd, etcd.spec('dvm/election'), path.join(dir, 'calls'), started);
  } finally {
    for (const c of started) await kill(c);
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('kill -9 of the leader: the standby is elected within about the lease and takes over the calls', async () => {
  await withCluster(async (_etcd, spec, calls, started) => {
    const a = candidate(spec, 'n1', calls);
    started.push(a);
    await waitFor('n1 elected', () => said(a, 'elected') === 1);
    const b = candidate(spec, 'n2', calls);
    started.push(b);
    await waitFor('n2 standby', () => said(b, 'standby') === 1);
    await sleep(500);
    assert.is(said(b, 'elected'), 0, 'a standby waits while the leader lives');
    const store = await openEtcdStore(spec);
    try {
      const entries = await store.readNodes();
      assert.equal(entries, {}, 'candidates wrote no node state here');
    } finally {
      await store.close();
    }
    const killedAt = Date.now();
    await kill(a);
    const took = await waitFor('n2 elected after kill -9', () => said(b, 'elected') === 1, 10_000);
    console.log(`  failover after kill -9: ${took} ms (lease ${TTL} s)`);
    assert.ok(took <= TTL * 1000 + 3000, `elected within the lease and a margin (${took} ms)`);
    await waitFor('n2 makes calls', () => callsOf(calls).some((c) => c.node === 'n2'));
    const log = callsOf(calls);
    const firstB = log.find((c) => c.node === 'n2')!.at;
    assert.ok(log.filter((c) => c.node === 'n1').every((c) => c.at <= killedAt), 'no call from the dead leader after its death');
    assert.ok(firstB >= killedAt, 'the standby made no call while the leader lived');
  });
});

test('SIGSTOP past the lease: the standby takes over; after SIGCONT the old leader makes zero calls and becomes a standby (elected again when the other dies)', async () => {
  await withCluster(async (_etcd, spec, calls, started) => {
    const a = candidate(spec, 'n1', calls);
    started.push(a);
    await waitFor('n1 elected', () => said(a, 'elected') === 1);
    const b = candidate(spec, 'n2', calls);
    started.push(b);
    await waitFor('n2 standby', () => said(b, 'standby') === 1);
    await waitFor('n1 makes calls', () => callsOf(calls).filter((c) => c.node === 'n1').length >= 3);
    a.proc.kill('SIGSTOP');
    const stoppedAt = Date.now();
    await waitFor('n2 elected while n1 is stopped', () => said(b, 'elected') === 1, 10_000);
    await waitFor('n2 acts', () => callsOf(calls).filter((c) => c.node === 'n2').length >= 3);
    const n1Before = callsOf(calls).filter((c) => c.node === 'n1').length;
    const contAt = Date.now();
    a.proc.kill('SIGCONT');
    await waitFor('n1 notices it lost and campaigns again as a standby', () => said(a, 'lost') === 1 && said(a, 'standby') === 2, 10_000);
    await sleep(TTL * 1000 * 2);
    const log = callsOf(calls);
    const n1After = log.filter((c) => c.node === 'n1');
    assert.is(n1After.length, n1Before, `zero calls by n1 after SIGCONT (it made ${n1After.length - n1Before})`);
    assert.ok(n1After.every((c) => c.at < stoppedAt + 50), 'every n1 call came before it was stopped');
    assert.is(said(a, 'elected'), 1, 'n1 was not elected again while n2 leads');
    assert.ok(a.lines.find((l) => l.text === 'lost')!.at >= contAt, 'n1 saw the loss on waking');
    assert.ok(log.filter((c) => c.node === 'n2').every((c) => c.at > stoppedAt), 'n2 acted only after n1 stopped');
    // Exactly one acting at a time: n2's calls keep coming after n1 woke.
    const n2Late = log.filter((c) => c.node === 'n2' && c.at > contAt + TTL * 1000).length;
    assert.ok(n2Late > 0, 'n2 still leads and acts');
    // n1 is a real standby again: when n2 dies, n1 is elected and acts.
    await kill(b);
    const killedAt = Date.now();
    await waitFor('n1 elected again after n2 died', () => said(a, 'elected') === 2, 10_000);
    await waitFor('n1 acts again', () => callsOf(calls).some((c) => c.node === 'n1' && c.at > killedAt));
  });
});
test.run();
