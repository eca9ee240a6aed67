// The in-process kernel query (src/dmexec/client.ts) gives vol-activate and
// dmactivate exactly the document a forked `dmexec --query` would.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dmexec, dmname, createSteps, SCOPE } from '../helpers/dm.js';
import { tableLine } from '../../src/lib/dm-table.js';
import { queryKernel } from '../../src/dmexec/client.js';
import { canonicalJson } from '../../src/lib/canonical-json.js';

function both(scope: string): [string, string] {
  const inProcess = canonicalJson(queryKernel(scope));
  process.env.DVM_QUERY_FORK = '1';
  try {
    return [inProcess, canonicalJson(queryKernel(scope))];
  } finally {
    delete process.env.DVM_QUERY_FORK;
  }
}

test('in-process query equals forked dmexec --query: empty scope, live and staged tables', async () => {
  const [a0, b0] = both(`${SCOPE}-none`);
  assert.is(a0, b0);
  assert.equal(JSON.parse(a0).devices, []);
  const name = dmname('query');
  try {
    const r = await dmexec(createSteps(name, [tableLine(0, 2048, 'zero')]));
    assert.is(r.exitCode, 0, r.stderr);
    // stage a second table in the inactive slot, so inactive_table is not null
    const s = await dmexec([{ op: 'load', name, table: [{ start: 0, length: 4096, target: 'zero', params: '' }] }]);
    assert.is(s.exitCode, 0, s.stderr);
    const [a, b] = both(SCOPE);
    assert.is(a, b);
    const dev = JSON.parse(a).devices.find((d: { name: string }) => d.name === name);
    assert.ok(dev, 'the device is listed');
    assert.is(dev.inactive_table.length, 1);
  } finally {
    await dmexec([{ op: 'remove', name }]);
  }
});

test.run();
