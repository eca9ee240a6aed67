// The work of one commit (issue 11): the record and the precommit header
// share one fsync barrier, the commit header has the other: three writes and
// two fsyncs per PV, with or without a participant (there were three fsyncs).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { init, update } from '../../src/transaction-manager/ops.js';
import { addLv, memDevs, randomLvs, recordingIo, ringEndSetup, type IoOp } from '../helpers/tm.js';

async function count(pvs: number, sync: boolean) {
  const devs = memDevs(pvs);
  init('vg0', devs, { metadataSize: 64 * 1024, extentSize: 128 });
  const ops: IoOp[] = [];
  await update('vg0', recordingIo(devs, ops), addLv('x'), sync ? { sync: async () => {} } : {});
  return { writes: ops.filter((o) => o.kind === 'write').length, syncs: ops.filter((o) => o.kind === 'sync').length };
}

test('an update without a participant: 3 writes and 2 fsyncs per PV', async () => {
  assert.equal(await count(1, false), { writes: 3, syncs: 2 });
  assert.equal(await count(3, false), { writes: 9, syncs: 6 });
});

test('an update with a participant: the same 3 writes and 2 fsyncs per PV', async () => {
  assert.equal(await count(1, true), { writes: 3, syncs: 2 });
  assert.equal(await count(2, true), { writes: 6, syncs: 4 });
});

test('a record that wraps round the ring end: one more write (its two parts), still 2 fsyncs per PV', async () => {
  const devs = memDevs(2);
  init('vg0', devs, { metadataSize: 64 * 1024, extentSize: 128 });
  await ringEndSetup(devs, update);
  const ops: IoOp[] = [];
  await update('vg0', recordingIo(devs, ops), randomLvs(32));
  assert.equal({ writes: ops.filter((o) => o.kind === 'write').length, syncs: ops.filter((o) => o.kind === 'sync').length }, { writes: 8, syncs: 4 });
});

test.run();
