// The dvm backend's metadata as LV tags (src/agent/backends/dvm/tags.ts):
// round trips for any metadata the backend contract allows, only LVM tag
// characters, an operator's own tags left alone, and the lv-change arguments
// that turn one tag set into another.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fromTags, tagChanges, toTags } from '../../src/agent/backends/dvm/tags.js';
import { volumeName } from '../../src/agent/backends/dvm/index.js';
import { isValidTag } from '../../src/lib/names.js';
import { lvChange } from '../../src/metadata-manip/lv-change.js';
import { BackendError } from '../../src/agent/backend/types.js';
import { emptyVg } from '../helpers/vg-fixtures.js';
import { lvCreate } from '../../src/metadata-manip/lv-create.js';
import { int, rng } from '../helpers/random-ops.js';

test('round trip: name, node and metadata with any one-line values', () => {
  const st = { name: 'dvm-pg data ✓', node: 'n1', metadata: { 'dvm.dataset': '3b1f0a52-7d7e-4a4e-9a52-2f3f1b7e0c11', 'x.y:z': 'with spaces and ünïcode', empty: '' } };
  const tags = toTags(st);
  assert.ok(tags.every(isValidTag), tags.join(' '));
  assert.equal(tags, [...tags].sort(), 'sorted, as the VG stores them');
  assert.equal(fromTags(tags), st);
  assert.equal(fromTags(undefined), { name: null, node: null, metadata: {} });
});

test('random metadata round-trips through LVM tag characters only (500 cases)', () => {
  const r = rng(13);
  const keyChars = 'abcXYZ019_.:-';
  for (let i = 0; i < 500; i++) {
    const md: Record<string, string> = {};
    for (let k = int(r, 0, 6); k > 0; k--) {
      const key = Array.from({ length: int(r, 1, 40) }, () => keyChars[int(r, 0, keyChars.length - 1)]).join('');
      md[key] = Array.from({ length: int(r, 0, 200) }, () => String.fromCodePoint(int(r, 32, r() < 0.8 ? 126 : 0x2fff))).join('');
    }
    const st = { name: r() < 0.5 ? null : `dvm-${i}`, node: r() < 0.5 ? null : `node${i}`, metadata: md };
    const tags = toTags(st);
    for (const t of tags) assert.ok(isValidTag(t), `case ${i}: '${t}'`);
    assert.equal(fromTags(tags), st, `case ${i}`);
  }
});

test("an operator's own tags survive a retag; ours are replaced", () => {
  const before = ['backup', ...toTags({ name: 'a', node: 'n1', metadata: { k: 'v' } })];
  const after = toTags({ name: 'a', node: null, metadata: { k: 'w' } });
  const args = tagChanges(before, after);
  let vg = lvCreate(emptyVg([10]), { name: 'x', size: '1e' }).vg;
  vg = lvChange(vg, { name: 'x', addTags: before }).vg;
  vg = lvChange(vg, { name: 'x', addTags: args.filter((_, i) => args[i - 1] === '--addtag'), delTags: args.filter((_, i) => args[i - 1] === '--deltag') }).vg;
  const tags = vg.lvs[0].tags!;
  assert.ok(tags.includes('backup'), 'not ours: kept');
  assert.equal(fromTags(tags), { name: 'a', node: null, metadata: { k: 'w' } });
  assert.equal(tagChanges(after, after), [], 'no change, no lv-change');
});

test('a value too long for one tag is refused as invalid, not cut', () => {
  try {
    toTags({ name: null, node: null, metadata: { k: 'ü'.repeat(400) } });
    assert.unreachable('accepted');
  } catch (e) {
    assert.instance(e, BackendError);
    assert.is((e as BackendError).kind, 'invalid');
  }
});

test('volume names: one per (cluster, dataset), valid LV names, different across clusters', () => {
  const a = volumeName('c1', '3b1f0a52-7d7e-4a4e-9a52-2f3f1b7e0c11');
  assert.is(a, volumeName('c1', '3b1f0a52-7d7e-4a4e-9a52-2f3f1b7e0c11'));
  assert.match(a, /^dvm-[0-9a-f]{20}$/);
  assert.is.not(a, volumeName('c2', '3b1f0a52-7d7e-4a4e-9a52-2f3f1b7e0c11'));
});

test.run();
