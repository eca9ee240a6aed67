// The group /dev/mapper nodes get: 'disk' from the group file, root's where none.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { diskGid, NODE_MODE } from '../../src/dmexec/nodes.js';

const dir = mkdtempSync(path.join(tmpdir(), 'dvm-dm-nodes-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

test('diskGid reads the disk group, and falls back to 0', () => {
  assert.is(diskGid(file('debian', 'root:x:0:\ndaemon:x:1:\ndisk:x:6:\nlp:x:7:\n')), 6);
  assert.is(diskGid(file('other', 'root:x:0:\ndiskette:x:9:\ndisk:x:42:backup\n')), 42, "not fooled by a name starting with 'disk'");
  assert.is(diskGid(file('none', 'root:x:0:\n')), 0);
  assert.is(diskGid(file('garbage', 'disk:x:abc:\n')), 0);
  assert.is(diskGid(path.join(dir, 'absent')), 0);
  assert.is(NODE_MODE, 0o660);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
