// discover scans every block device, but never reads a suspended dm device
// (the read would block until someone resumed it) nor dvm's own LVs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { withLoops } from '../helpers/devices.js';
import { dmname } from '../helpers/dm.js';
import { runBin } from '../helpers/cli.js';

test('discover returns promptly while a dm device is suspended', async () => {
  await withLoops(1, 8, async ([pv]) => {
    const name = dmname('susp');
    const dm = (...a: string[]) => execa('dmsetup', ['--noudevsync', '--noudevrules', ...a]);
    await dm('create', name, '--table', `0 8192 linear ${pv.mm} 0`);
    await dm('suspend', name);
    try {
      const t = Date.now();
      const r = await Promise.race([
        runBin('discover', ['--json']),
        new Promise<null>((res) => setTimeout(() => res(null), 120_000)),
      ]);
      assert.ok(r, 'discover did not hang on the suspended device');
      assert.is(r!.exitCode, 0, r!.stderr);
      assert.is(JSON.parse(r!.stdout).format, 'dvm.discover/1');
      console.log(`  discover --json with a suspended dm device: ${Date.now() - t} ms`);
    } finally {
      await dm('resume', name);
      await dm('remove', name);
    }
  });
});

test.run();
