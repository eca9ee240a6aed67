// tm update runs our own mutators in-process; forking them (DVM_TM_FORK=1)
// must give byte-identical results: the same envelope, the same notes and
// errors on stderr, the same exit codes, and the same bytes on the PVs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { runBin } from '../helpers/cli.js';

const steps: string[][] = [
  ['lv-create', 'data', '10M'],
  ['lv-create', 'fast', '20M', '--stripes', '2'],
  ['lv-create', 'safe', '8M', '--mirrors', '1'],
  ['lv-extend', 'data', '+5M'],
  ['lv-reduce', 'fast', '-8M'],
  ['lv-rename', 'data', 'renamed'],
  ['lv-create', 'renamed', '4M'], // exists: exit 1
  ['lv-create', 'x', '4M', '--bogus'], // usage: exit 2
  ['lv-extend', 'nope', '+1e'], // no such LV
  ['lv-remove', 'safe'],
  ['lv-create', 'rest', '100%FREE'],
];

test('in-process and forked mutators give identical results, step by step', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dvm-inproc-'));
  try {
    // Each side in its own folder with the same relative paths and a fixed commit
    // time, so that what tm records (origin: time, host, command) is the same.
    const env = { SOURCE_DATE_EPOCH: '1764648000' };
    for (const side of ['in', 'fork']) mkdirSync(path.join(dir, side));
    const cwd = (side: string) => path.join(dir, side);
    const img = (side: string) => ['a', 'b'].map((f) => path.join(dir, side, f));
    execFileSync('truncate', ['-s', '64M', ...img('in')]);
    const init = await runBin('tm', ['init', 'vg0', 'a', 'b'], { cwd: cwd('in'), env });
    assert.is(init.exitCode, 0, init.stderr);
    img('fork').forEach((p, i) => copyFileSync(img('in')[i], p));
    for (const s of steps) {
      const inproc = await runBin('tm', ['update', 'vg0', 'a', 'b', '--', ...s], { cwd: cwd('in'), env });
      const forked = await runBin('tm', ['update', 'vg0', 'a', 'b', '--', ...s], { cwd: cwd('fork'), env: { ...env, DVM_TM_FORK: '1' } });
      const label = s.join(' ');
      assert.is(inproc.exitCode, forked.exitCode, `${label}: exit code`);
      assert.is(inproc.stderr, forked.stderr, `${label}: stderr`);
      assert.is(inproc.stdout, forked.stdout, `${label}: the new envelope, byte for byte`);
      img('in').forEach((p, i) => assert.ok(readFileSync(p).equals(readFileSync(img('fork')[i])), `${label}: PV ${i} images identical`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
