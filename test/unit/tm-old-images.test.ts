// PVs written before records could wrap (issue 17 item 4) still read: two
// images made by tm at main 1a100ad (init --metadata-size 64K, five
// lv-creates, one lv-remove), gzipped in test/fixtures/pv-main-1a100ad.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { MemDev } from '../../src/pv-format/device.js';
import { history, read, update, verify } from '../../src/transaction-manager/ops.js';
import { ROOT } from '../helpers/cli.js';
import { addLv } from '../helpers/tm.js';

const images = () => ['pv-a', 'pv-b'].map((n) => new MemDev(`/old/${n}`, gunzipSync(readFileSync(path.join(ROOT, 'test/fixtures/pv-main-1a100ad', `${n}.gz`)))));

test('an old image reads, verifies clean and keeps its history', () => {
  const devs = images();
  const { env } = read('vgold', devs);
  assert.is(env.vg.seqno, 7);
  assert.equal(env.vg.lvs.map((l) => l.name), ['lv1', 'lv3', 'lv4', 'lv5']);
  assert.equal(verify('vgold', devs).problems, []);
  assert.equal(history('vgold', devs).generations.map((g) => g.seqno), [7, 6, 5, 4, 3, 2, 1]);
  assert.is(read('vgold', devs, 3).env.vg.lvs.length, 2);
});

test('an old image takes an update, and reads back after it', async () => {
  const devs = images();
  await update('vgold', devs, addLv('lv6'));
  assert.is(read('vgold', devs).env.vg.seqno, 8);
  assert.equal(verify('vgold', devs).problems, []);
});

test.run();
