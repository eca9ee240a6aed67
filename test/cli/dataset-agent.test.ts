// dataset-agent and dataset-volumes through bin/: the battery, bad arguments,
// --once on the memory backend, the credentialed election across processes
// (a standby, a killed leader's lock released by the kernel), one agent per
// node name, SIGTERM.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { assertOneLineError, binPath, cliBattery, runBin } from '../helpers/cli.js';
import { validate } from '../../src/lib/schema.js';
import type { DatasetStatus, VolumesDoc } from '../../src/agent/docs.js';

const parent = mkdtempSync(path.join(tmpdir(), 'dvm-agent-cli-'));
let n = 0;
const fresh = () => path.join(parent, `s${n++}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startAgent(args: string[]) {
  const child = spawn(process.execPath, [binPath('dataset-agent'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return { child, exited, log: () => log };
}
async function until(what: string, check: () => boolean, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.unreachable(`timed out: ${what}`);
    await sleep(50);
  }
}

cliBattery(test, 'dataset-agent', {
  args: ['--store', path.join(parent, 'battery'), '--node', 'n1', '--backend', 'memory', '--once'],
  readsStdin: false,
  failing: async () => {
    const store = fresh();
    await runBin('dataset', ['--store', store, 'create', 'a', '--size', '1M']);
    chmodSync(store, 0o777);
    const files = readdirSync(path.join(store, 'desired')).map((f) => path.join(store, 'desired', f));
    return { args: ['--store', store, '--node', 'n1', '--backend', 'memory', '--once'], files, code: 4 };
  },
});
cliBattery(test, 'dataset-volumes', { args: ['--backend', 'memory'], readsStdin: false });

test('dataset-agent: bad arguments exit 2 with one line', async () => {
  const store = fresh();
  const cases = [
    ['--node', 'n1', '--backend', 'memory'],
    ['--store', store, '--backend', 'memory'],
    ['--store', store, '--node', 'n1'],
    ['--store', store, '--node', '../n1', '--backend', 'memory'],
    ['--store', store, '--node', 'n1', '--backend', 'nosuch'],
    ['--store', store, '--node', 'n1', '--backend', 'memory', '--mount-root', 'relative'],
    ['--store', store, '--node', 'n1', '--backend', 'memory', 'extra'],
  ];
  const rs = await Promise.all(cases.map((a) => runBin('dataset-agent', a)));
  rs.forEach((r) => assertOneLineError(r, 'dataset-agent', 2));
});

test('dataset-volumes: prints a valid dvm.volumes/1; a bad backend exits 2, a missing directory 4', async () => {
  const r = await runBin('dataset-volumes', ['--backend', 'memory', '--node', 'n1']);
  assert.is(r.exitCode, 0, r.stderr);
  const doc = validate<VolumesDoc>('dvm.volumes/1', JSON.parse(r.stdout));
  assert.equal([doc.backend, doc.listed_by, doc.volumes], ['memory', 'n1', []]);
  assertOneLineError(await runBin('dataset-volumes', ['--backend', 'bogus']), 'dataset-volumes', 2);
  assertOneLineError(await runBin('dataset-volumes', ['--backend', `loopback:${parent}/none`]), 'dataset-volumes', 4);
});

test('dataset-agent --once (credentialed, memory): one pass creates the volume, writes the listing and a status with a reason, logs one line per step', async () => {
  const store = fresh();
  await runBin('dataset', ['--store', store, 'create', 'a', '--size', '64M']);
  const r = await runBin('dataset-agent', ['--store', store, '--node', 'n1', '--backend', 'memory', '--credentialed', '--once']);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.ok(lines.some((l) => /^\S+Z n1 a create ok \(\d+ ms\)/.test(l)), r.stderr);
  assert.match(lines[lines.length - 1], /n1 pass 1 steps, 1 not converged, leading in \d+ ms; backend calls: control create=1,limits=1,list=1;/);
  const listing = validate<VolumesDoc>('dvm.volumes/1', JSON.parse(readFileSync(path.join(store, 'listing.json'), 'utf8')));
  assert.is(listing.listed_by, 'n1');
  const st = await runBin('dataset', ['--store', store, 'status', '--json']);
  const s = Object.values(JSON.parse(st.stdout).datasets as Record<string, { status: DatasetStatus }>)[0].status;
  assert.is(s.phase, 'pending');
  assert.ok(s.reason && s.reason.length > 0, 'a reason');
  assert.is(s.by, 'n1');
});

test('the credentialed election across processes: a standby waits, takes over when the leader is killed (-9); one agent per node name; SIGTERM exits 0', async () => {
  const store = fresh();
  mkdirSync(store, { mode: 0o700 });
  const common = ['--store', store, '--backend', 'memory', '--credentialed'];
  const a = startAgent([...common, '--node', 'n1']);
  await until('n1 elected', () => /elected/.test(a.log()));
  const b = startAgent([...common, '--node', 'n2']);
  await until('n2 passes', () => /n2 pass/.test(b.log()));
  assert.match(b.log(), /n2 pass .*standby/);
  assert.not.ok(/elected/.test(b.log()), 'n2 waits while n1 leads');
  assert.match(b.log(), /n2 pass .*backend calls: control none/, 'a standby makes no control call');

  const dup = await runBin('dataset-agent', ['--store', store, '--backend', 'memory', '--node', 'n1', '--once']);
  assert.is(dup.exitCode, 1, dup.stderr);
  assert.match(dup.stderr, /another agent is running as this node/);

  a.child.kill('SIGKILL');
  await a.exited;
  await until('n2 takes over', () => /n2 elected/.test(b.log()), 10000);
  b.child.kill('SIGTERM');
  const e = await b.exited;
  assert.is(e.code, 0, b.log().slice(-500));
  assert.match(b.log(), /SIGTERM: finishing the current step, then exiting/);
});

test.after(() => rmSync(parent, { recursive: true, force: true }));
test.run();
