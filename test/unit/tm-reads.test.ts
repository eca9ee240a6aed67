// tm add, remove and recover read each PV once: they commit on the state they
// read instead of reading every PV again through update (the reads of the
// label, where every readPv starts, are counted).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Dev } from '../../src/pv-format/device.js';
import { LABEL_OFFSET } from '../../src/pv-format/layout.js';
import { add, init, read, recover, remove, update } from '../../src/transaction-manager/ops.js';
import { addLv, memDevs } from '../helpers/tm.js';

/** Devices that count reads covering the label sector. */
function counting(devs: Dev[]): { devs: Dev[]; labelReads: number[] } {
  const labelReads = devs.map(() => 0);
  const wrapped = devs.map((d, i) => ({
    path: d.path,
    get size() {
      return d.size;
    },
    read(o: number, l: number) {
      if (o <= LABEL_OFFSET && o + l > LABEL_OFFSET) labelReads[i]++;
      return d.read(o, l);
    },
    write: (o: number, data: Buffer) => d.write(o, data),
    sync: () => d.sync(),
    close: () => d.close(),
  }));
  return { devs: wrapped, labelReads };
}

const opts = { metadataSize: 256 * 1024, extentSize: 128 };

test('tm add reads each current PV once; the new device is probed for signatures, then read once as a PV', async () => {
  const all = memDevs(3);
  init('vg0', all.slice(0, 2), opts);
  const c = counting(all);
  const env = await add('vg0', c.devs.slice(0, 2), [c.devs[2]]);
  assert.is(env.vg.pvs.length, 3);
  assert.equal(c.labelReads, [1, 1, 2]);
});

test('tm remove reads each PV once', async () => {
  const all = memDevs(3);
  init('vg0', all, opts);
  const c = counting(all);
  const env = await remove('vg0', c.devs.slice(0, 2), [c.devs[2]]);
  assert.is(env.vg.pvs.length, 2);
  assert.equal(c.labelReads, [1, 1, 1]);
});

test('tm recover reads each PV once, also when it records that a missing PV is back', async () => {
  const all = memDevs(3);
  init('vg0', all, opts);
  const present = all.slice(0, 2);
  const gone = read('vg0', present).env.missing[0];
  await update('vg0', present, async (vg) => {
    const v = await addLv('a')(vg);
    v.pvs.find((p) => p.id === gone)!.flags.push('missing');
    return v;
  });
  const c = counting(all);
  const { env, actions } = await recover('vg0', c.devs);
  assert.ok(!env.vg.pvs.find((p) => p.id === gone)!.flags.includes('missing'));
  assert.ok(actions.some((a) => a.includes('present again')), actions.join('; '));
  assert.equal(c.labelReads, [1, 1, 1]);
  // and what it committed reads back as a clean VG at that generation
  const again = read('vg0', all);
  assert.is(again.env.vg.seqno, env.vg.seqno);
  assert.equal(again.st.issues, []);
});

test.run();
