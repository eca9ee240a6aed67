// tm update runs our own mutators in-process; forking them (DVM_TM_FORK=1)
// must give byte-identical results: the same envelope, the same notes and
// errors on stderr, the same exit codes, and the same bytes on the PVs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
    const pvs = (side: string) => [path.join(dir, `${side}-a`), path.join(dir, `${side}-b`)];
    const [a, b] = pvs('in');
    execFileSync('truncate', ['-s', '64M', a, b]);
    const init = await runBin('tm', ['init', 'vg0', a, b]);
    assert.is(init.exitCode, 0, init.stderr);
    pvs('fork').forEach((p, i) => copyFileSync([a, b][i], p));
    for (const s of steps) {
      const inproc = await runBin('tm', ['update', 'vg0', ...pvs('in'), '--', ...s]);
      const forked = await runBin('tm', ['update', 'vg0', ...pvs('fork'), '--', ...s], { env: { DVM_TM_FORK: '1' } });
      const label = s.join(' ');
      assert.is(inproc.exitCode, forked.exitCode, `${label}: exit code`);
      assert.is(inproc.stderr, forked.stderr, `${label}: stderr`);
      assert.is(inproc.stdout.replaceAll('/in-', '/fork-'), forked.stdout, `${label}: the new envelope, byte for byte (but the device paths)`);
      pvs('in').forEach((p, i) => assert.ok(readFileSync(p).equals(readFileSync(pvs('fork')[i])), `${label}: PV ${i} images identical`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
