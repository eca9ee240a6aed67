// Two operators at once on one etcd store, through the real `dataset`
// command: `grow` and `move` of the same dataset started together, many
// times. The compare-and-swap on the desired state's revision means both
// land (each re-derived from the other's result) or one is refused with a
// message; never one lost silently. Then a 3-member etcd with one member
// stopped: the operator's commands work as before.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runBin } from '../helpers/cli.js';
import { startEtcd } from '../helpers/etcd.js';

const MiB = 1024 * 1024;

async function entry(spec: string, name: string): Promise<{ size: number; node: string | null }> {
  const r = await runBin('dataset', ['--store', spec, 'list', '--json']);
  assert.is(r.exitCode, 0, r.stderr);
  return Object.values(JSON.parse(r.stdout).datasets as Record<string, { name: string; size: number; node: string | null }>).find((d) => d.name === name)!;
}

test('grow and move of one dataset at the same time: both land or one is refused clearly', async () => {
  const etcd = await startEtcd();
  try {
    const spec = etcd.spec('dvm/ops');
    const c = await runBin('dataset', ['--store', spec, 'create', 'pg', '--size', '64M', '--node', 'n1']);
    assert.is(c.exitCode, 0, c.stderr);
    let size = 64 * MiB;
    let landedBoth = 0;
    for (let i = 0; i < 6; i++) {
      const to = i % 2 === 0 ? 'n2' : 'n1';
      const [g, m] = await Promise.all([runBin('dataset', ['--store', spec, 'grow', 'pg', '+8M']), runBin('dataset', ['--store', spec, 'move', 'pg', '--to', to])]);
      const e = await entry(spec, 'pg');
      for (const [r, what] of [[g, 'grow'], [m, 'move']] as const) {
        if (r.exitCode !== 0) {
          assert.is(r.exitCode, 1, `${what} refused with exit 1: ${r.stderr}`);
          assert.match(r.stderr, /^dataset: .+: .+/, `${what} says why in one line`);
        }
      }
      if (g.exitCode === 0) size += 8 * MiB;
      assert.is(e.size, size, `round ${i}: the size is what the grows that succeeded made it (grow exit ${g.exitCode}: ${g.stderr})`);
      if (m.exitCode === 0) assert.is(e.node, to, `round ${i}: the move that succeeded is there`);
      if (g.exitCode === 0 && m.exitCode === 0) landedBoth++;
    }
    assert.ok(landedBoth > 0, 'concurrent changes to one dataset both land (retried on a conflict)');
  } finally {
    await etcd.stop();
  }
});

test('three etcd members, one stopped: the store works as before; restarted, it rejoins', async () => {
  const etcd = await startEtcd({ members: 3 });
  try {
    const spec = etcd.spec('dvm/three');
    assert.is((await runBin('dataset', ['--store', spec, 'create', 'a', '--size', '64M'])).exitCode, 0);
    await etcd.stopMember(0, true);
    const r = await runBin('dataset', ['--store', spec, 'create', 'b', '--size', '64M']);
    assert.is(r.exitCode, 0, r.stderr);
    const l = await runBin('dataset', ['--store', spec, 'list', '--json']);
    assert.is(l.exitCode, 0, l.stderr);
    assert.equal(Object.values(JSON.parse(l.stdout).datasets as Record<string, { name: string }>).map((d) => d.name).sort(), ['a', 'b']);
    await etcd.startMember(0);
    // Only the restarted member: it caught up.
    const one = etcd.spec('dvm/three').replace(/\/\/[^/]+\//, `//${etcd.endpoints[0]}/`);
    const again = await runBin('dataset', ['--store', one, 'list', '--json']);
    assert.is(again.exitCode, 0, again.stderr);
    assert.is(Object.keys(JSON.parse(again.stdout).datasets).length, 2);
  } finally {
    await etcd.stop();
  }
});

test('the store unreachable: exit 4 with one line naming it', async () => {
  const etcd = await startEtcd();
  const spec = etcd.spec('dvm/down');
  await etcd.stop();
  const r = await runBin('dataset', ['--store', spec, 'list']);
  assert.is(r.exitCode, 4, r.stderr);
  assert.match(r.stderr, /^dataset: store 'etcd:\/\/127\.0\.0\.1:\d+\/dvm\/down': unreachable \(.+\)\n$/);
});

test.run();
