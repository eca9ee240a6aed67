// Issue 17 item 13: diagnostics are one short line whatever they echo;
// discover -0 and paths with spaces or newlines; a hard link to a PV is the
// same device for discover as for tm, never "a cloned disk".
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { quoteText } from '../../src/lib/errors.js';
import { assertOneLineError, runBin } from '../helpers/cli.js';

const dir = mkdtempSync(path.join(tmpdir(), 'dvm-diag-'));
let n = 0;
function pvFile(sub: string, name = 'pv0.img'): string {
  const d = path.join(dir, sub);
  mkdirSync(d, { recursive: true });
  const p = path.join(d, name);
  writeFileSync(p, '');
  truncateSync(p, 20 * 1024 * 1024);
  return p;
}
async function init(vg: string, ...ps: string[]) {
  const r = await runBin('tm', ['init', vg, ...ps, '--extent-size', '1M', '--metadata-size', '64K']);
  assert.is(r.exitCode, 0, r.stderr);
}
const vgName = () => `vgdiag${process.pid}x${n++}`;

test('quoteText escapes control characters and caps the length', () => {
  assert.is(quoteText('a\nb\0c\x1bd'), 'a\\nb\\0c\\x1bd');
  const q = quoteText('x'.repeat(50_000_000));
  assert.ok(q.length < 400, String(q.length));
  assert.match(q, /\(50000000 characters\)$/);
});

test('tm: a device path with a newline gives a one-line diagnostic', async () => {
  const r = await runBin('tm', ['read', 'vg0', `${dir}/no\nsuch`]);
  assertOneLineError(r, 'tm', 1, /no\\nsuch/);
});

test('tm: a 50 MB path on stdin gives a short diagnostic', async () => {
  const r = await runBin('tm', ['read', 'vg0'], { input: '/' + 'a'.repeat(50 * 1024 * 1024) + '\n' });
  assert.ok(r.exitCode >= 1 && r.exitCode <= 4, String(r.exitCode));
  assert.ok(r.stderr.length < 4096, `stderr is ${r.stderr.length} bytes`);
  assert.is(r.stderr.trim().split('\n').length, 1);
});

test('tm: a control character in a path never reaches stderr raw', async () => {
  const r = await runBin('tm', ['read', 'vg0', `${dir}/x\x01\x7fy`]);
  assertOneLineError(r, 'tm', 1);
  assert.not.match(r.stderr, /[\x00-\x09\x0b-\x1f\x7f]/);
});

test('discover: a path with a space or newline is refused one per line, and -0 prints it NUL-terminated for tm', async () => {
  const vg = vgName();
  const sub = `sp ace${n}\nnl`;
  const p = pvFile(sub);
  await init(vg, p);
  const d = path.join(dir, sub);
  assertOneLineError(await runBin('discover', ['--dir', d, vg]), 'discover', 1, /-0/);
  const z = await runBin('discover', ['-0', '--dir', d, vg]);
  assert.is(z.exitCode, 0, z.stderr);
  assert.is(z.stdout, p + '\0');
  const long = await runBin('discover', ['--null', '--dir', d, vg]);
  assert.is(long.stdout, z.stdout);
  // tm takes NUL-separated paths on stdin
  const r = await runBin('tm', ['read', vg], { input: z.stdout });
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).devices[Object.keys(JSON.parse(r.stdout).devices)[0]], p);
});

test('discover: a hard link or symlink to a PV is the same device, not a cloned disk', async () => {
  const vg = vgName();
  const p = pvFile(`links${n}`, 'a.img');
  await init(vg, p);
  linkSync(p, path.join(path.dirname(p), 'b-hardlink.img'));
  symlinkSync(p, path.join(path.dirname(p), 'c-symlink.img'));
  const r = await runBin('discover', ['--dir', path.dirname(p), vg]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.stdout, p + '\n');
  const j = JSON.parse((await runBin('discover', ['--json', '--dir', path.dirname(p)])).stdout);
  assert.equal(j.duplicates, []);
  // tm agrees: the two names are one device
  assertOneLineError(await runBin('tm', ['read', vg, p, path.join(path.dirname(p), 'b-hardlink.img')]), 'tm', 1, /same device/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
