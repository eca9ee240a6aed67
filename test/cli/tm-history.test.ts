// tm history: a table by default, the document with --json; every new
// generation records its time (UTC), host and full command, and generations
// written before tm recorded them still read (shown as '-' / null).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { runBin, ROOT } from '../helpers/cli.js';
import { validate } from '../../src/lib/schema.js';
import { FileDev } from '../../src/pv-format/device.js';
import { init, update } from '../../src/transaction-manager/ops.js';
import { addLv } from '../helpers/tm.js';

const dir = mkdtempSync(path.join(tmpdir(), 'dvm-tm-history-'));
const MUT = path.join(ROOT, 'test/fixtures/add-lv.js');

interface Gen {
  seqno: number;
  time: string | null;
  host: string | null;
  command: string[] | null;
  description: string | null;
  size: number;
}

/** Two generations as tm wrote them before it recorded an origin: the ops called without one. */
async function olderVg(vg: string): Promise<string[]> {
  const ps = [0, 1].map((i) => {
    const p = path.join(dir, `${vg}-pv${i}.img`);
    writeFileSync(p, '');
    truncateSync(p, 20 * 1024 * 1024);
    return p;
  });
  const devs = ps.map((p) => FileDev.open(p, true));
  try {
    init(vg, devs, { extentSize: 2048, metadataSize: 64 * 1024 });
    await update(vg, devs, async (v) => addLv('old1')(v), { description: 'lv-create old1 (written before origins)' });
  } finally {
    devs.forEach((d) => d.close());
  }
  return ps;
}

test('history on a VG whose older generations carry no origin: the new one has time, host and the full command', async () => {
  const ps = await olderVg('vgh');
  const before = Date.now();
  const u = await runBin('tm', ['update', 'vgh', ...ps, '--', MUT, 'new1']);
  assert.is(u.exitCode, 0, u.stderr);
  const after = Date.now();

  const j = await runBin('tm', ['history', 'vgh', ...ps, '--json']);
  assert.is(j.exitCode, 0, j.stderr);
  const doc = validate<{ generations: Gen[] }>('dvm.tm-history/1', JSON.parse(j.stdout));
  assert.equal(doc.generations.map((g) => g.seqno), [3, 2, 1]);
  const [g3, g2, g1] = doc.generations;
  assert.match(g3.time ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'UTC to the second');
  const t = Date.parse(g3.time!);
  assert.ok(t >= Math.floor(before / 1000) * 1000 && t <= after, `${g3.time} lies within the update`);
  assert.is(g3.host, hostname());
  assert.equal(g3.command, ['tm', 'update', 'vgh', ...ps, '--', MUT, 'new1'], "tm's arguments and the mutator's");
  for (const g of [g2, g1]) {
    assert.is(g.time, null, `generation ${g.seqno} was written without an origin`);
    assert.is(g.host, null);
    assert.is(g.command, null);
  }
  assert.is(g2.description, 'lv-create old1 (written before origins)');

  const tab = await runBin('tm', ['history', 'vgh', ...ps]);
  assert.is(tab.exitCode, 0, tab.stderr);
  const lines = tab.stdout.trimEnd().split('\n');
  assert.is(lines.length, 4, tab.stdout);
  assert.match(lines[0], /^Seqno\s+Time \(UTC\)\s+Host\s+Description\s+Size$/);
  const cols = (l: string) => l.trim().split(/\s{2,}/);
  assert.equal(cols(lines[1]), ['3', g3.time!, hostname(), g3.description!, String(g3.size)]);
  assert.equal(cols(lines[2]), ['2', '-', '-', 'lv-create old1 (written before origins)', String(g2.size)]);
  assert.equal(cols(lines[3]), ['1', '-', '-', 'tm init vgh', String(g1.size)]);
});

test('tm init, add and remove record their origin too; --json is refused by other commands', async () => {
  const ps = [0, 1, 2].map((i) => {
    const p = path.join(dir, `vgo-pv${i}.img`);
    writeFileSync(p, '');
    truncateSync(p, 20 * 1024 * 1024);
    return p;
  });
  assert.is((await runBin('tm', ['init', 'vgo', ps[0], ps[1], '--metadata-size', '64K'])).exitCode, 0);
  const a = await runBin('tm', ['add', 'vgo', ps[2], '--dev', ps[0], '--dev', ps[1]]);
  assert.is(a.exitCode, 0, a.stderr);
  assert.equal(JSON.parse(a.stdout).vg.origin.command, ['tm', 'add', 'vgo', ps[2], '--dev', ps[0], '--dev', ps[1]]);
  const h = JSON.parse((await runBin('tm', ['history', 'vgo', ...ps, '--json'])).stdout) as { generations: Gen[] };
  assert.equal(h.generations.map((g) => g.command?.[1]), ['add', 'init']);
  const r = await runBin('tm', ['read', 'vgo', ...ps, '--json']);
  assert.is(r.exitCode, 2, 'read has no --json');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
