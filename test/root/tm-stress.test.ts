// Processes against files: kill -9 at random moments (>= 100 times), and 20
// concurrent `tm update`s serialised by flock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, runBin } from '../helpers/cli.js';
import { FileDev } from '../../src/pv-format/device.js';
import { init, read, recover, verify } from '../../src/transaction-manager/ops.js';

const dir = mkdtempSync(path.join(tmpdir(), 'dvm-tm-stress-'));
function files(name: string, count: number, size: number): string[] {
  const sub = path.join(dir, name);
  mkdirSync(sub);
  return Array.from({ length: count }, (_, i) => {
    const p = path.join(sub, `pv${i}.img`);
    writeFileSync(p, '');
    truncateSync(p, size);
    return p;
  });
}
const open = (ps: string[]) => ps.map((p) => FileDev.open(p, true));
const close = (ds: FileDev[]) => ds.forEach((d) => d.close());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The content every generation must have: LVs s(max(2, seqno-39))..s<seqno>. */
function expectedNames(seqno: number): string[] {
  const out: string[] = [];
  for (let s = Math.max(2, seqno - 39); s <= seqno; s++) out.push(`s${s}`);
  return out;
}

test('kill -9 of an updating process at random moments, 100+ times: always N or N+1, recover, verify', async () => {
  const ps = files('kill', 2, 2 * 1024 * 1024);
  let devs = open(ps);
  init('vg0', devs, { metadataSize: 64 * 1024, extentSize: 128 });
  close(devs);
  let last = 1;
  let kills = 0;
  let midUpdate = 0;
  const script = path.join(ROOT, 'test/fixtures/update-loop.js');
  while (kills < 100) {
    const child = spawn(process.execPath, [script, 'vg0', ...ps], { stdio: ['ignore', 'pipe', 'inherit'] });
    let reported = last;
    let buf = '';
    const ready = new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) if (l === 'ready') resolve();
        else reported = Number(l);
      }),
    );
    const exited = new Promise((r) => child.on('exit', r));
    await ready;
    await sleep(Math.random() * 120);
    child.kill('SIGKILL');
    await exited;
    kills++;
    devs = open(ps);
    try {
      const got = read('vg0', devs).env.vg;
      assert.ok(got.seqno === reported || got.seqno === reported + 1, `kill ${kills}: read seqno ${got.seqno}, last reported ${reported}`);
      assert.equal(got.lvs.map((l) => l.name), expectedNames(got.seqno), `kill ${kills}: generation ${got.seqno} is exactly itself`);
      const before = verify('vg0', devs).problems.length;
      if (before) midUpdate++;
      const r = await recover('vg0', devs);
      assert.is(r.env.vg.seqno, got.seqno, 'recover keeps what read returned');
      assert.equal(verify('vg0', devs).problems, [], `kill ${kills}: verify after recover`);
      last = got.seqno;
    } finally {
      close(devs);
    }
  }
  console.log(`kill -9: ${kills} kills, ${midUpdate} left an interrupted transaction, final generation ${last}`);
  assert.ok(last > 1, 'updates made progress');
});

test('kill -9 of the real `tm update` CLI, 100 times at random moments: N or N+1, recover, verify', async () => {
  const ps = files('killcli', 2, 8 * 1024 * 1024);
  const r0 = await runBin('tm', ['init', 'vg0', ...ps, '--metadata-size', '64K', '--extent-size', '64K']);
  assert.is(r0.exitCode, 0, r0.stderr);
  let seqno = 1;
  let advanced = 0;
  for (let i = 0; i < 100; i++) {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/tm.js'), 'update', 'vg0', ...ps, '--', path.join(ROOT, 'test/fixtures/add-error-lv.sh'), `lv${i}`], { stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    // from start-up to the last fsync: the whole life of an update
    await sleep(Math.random() * 700);
    child.kill('SIGKILL');
    await exited;
    const devs = open(ps);
    try {
      const got = read('vg0', devs).env.vg.seqno;
      assert.ok(got === seqno || got === seqno + 1, `read ${got} after ${seqno}`);
      await recover('vg0', devs);
      assert.equal(verify('vg0', devs).problems, []);
      if (got > seqno) advanced++;
      seqno = got;
    } finally {
      close(devs);
    }
  }
  console.log(`kill -9 of the tm update CLI: 100 kills, ${advanced} after the commit point, final generation ${seqno}`);
});

test('20 concurrent tm updates, each adding one LV: all present, seqno +20, verify passes', async () => {
  const ps = files('conc', 2, 24 * 1024 * 1024);
  const r0 = await runBin('tm', ['init', 'vg0', ...ps, '--metadata-size', '64K', '--extent-size', '256K']);
  assert.is(r0.exitCode, 0, r0.stderr);
  const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => runBin('tm', ['update', 'vg0', ...ps, '--', path.join(ROOT, 'test/fixtures/add-error-lv.sh'), `c${i}`])));
  runs.forEach((r, i) => assert.is(r.exitCode, 0, `update ${i}: ${r.stderr}`));
  const seqnos = runs.map((r) => JSON.parse(r.stdout).vg.seqno).sort((a, b) => a - b);
  assert.equal(seqnos, Array.from({ length: 20 }, (_, i) => i + 2), 'each update made its own generation');
  const devs = open(ps);
  try {
    const vg = read('vg0', devs).env.vg;
    assert.is(vg.seqno, 21);
    assert.equal(vg.lvs.map((l) => l.name).sort(), Array.from({ length: 20 }, (_, i) => `c${i}`).sort());
    assert.equal(verify('vg0', devs).problems, []);
  } finally {
    close(devs);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
