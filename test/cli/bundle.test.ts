// Every tool starts from the one multi-call bundle with a trained V8 code
// cache (scripts/bundle.mjs, src/launch/loader.cts); the registry
// (src/tools.ts) is the one list of tools. The bundle must behave exactly
// like the modules it was made from, and its cache must be one V8 accepts,
// or the start-up gain silently disappears.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUNDLE, compileBundle } from '../../src/launch/loader.cjs';
import { TOOLS } from '../../src/tools.js';
import { ROOT, runBin } from '../helpers/cli.js';

const REGISTRY = Object.keys(TOOLS).sort();

test('the registry is the one list: package.json bin and bin/ shims follow it', () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.equal(Object.keys(pkg.bin).sort(), REGISTRY);
  for (const [tool, file] of Object.entries(pkg.bin)) assert.is(file, `bin/${tool}.js`);
  const shims = readdirSync(path.join(ROOT, 'bin')).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).sort();
  assert.equal(shims, REGISTRY);
  for (const tool of REGISTRY) assert.match(readFileSync(path.join(ROOT, 'bin', `${tool}.js`), 'utf8'), `.run(${JSON.stringify(tool)})`);
});

test('one bundle, whose trained code cache V8 accepts', () => {
  assert.ok(compileBundle(BUNDLE).cacheUsed, 'code cache missing or rejected');
  assert.equal(readdirSync(path.join(ROOT, 'dist')).filter((f) => f.endsWith('.cjs')), ['dvm.cjs']);
});

test('the bundle is ASCII (the loader reads it as latin1), names no node:module, and carries the version', () => {
  const bytes = readFileSync(BUNDLE);
  const at = bytes.findIndex((b) => b > 0x7f);
  assert.is(at, -1, `non-ASCII byte at ${at}`);
  const text = bytes.toString('latin1');
  assert.not.match(text, /require\("(node:)?module"\)/, 'node:module costs every start its compile');
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.ok(text.includes(JSON.stringify(pkg.version)), 'the version is written in at build');
});

test('an unknown tool name is a usage error', async () => {
  const r = await execa(process.execPath, ['-e', `require(${JSON.stringify(path.join(ROOT, 'dist/src/launch/loader.cjs'))}).run('no-such-tool')`], { reject: false });
  assert.is(r.exitCode, 2);
  assert.match(String(r.stderr), /^dvm: unknown tool 'no-such-tool': expected one of discover, tm,/);
});

test('a missing or foreign cache only costs compile time', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dvm-bundle-'));
  try {
    const file = path.join(dir, 'x.bundle.cjs');
    // Distinct sources: V8's in-process compilation cache would answer a repeat.
    for (const [n, cache] of [[1, undefined], [2, Buffer.from('not a V8 code cache')]] as const) {
      writeFileSync(file, `module.exports = 6 * 7 * ${n} / ${n};`);
      if (cache) writeFileSync(`${file}.cache`, cache);
      const { script, cacheUsed } = compileBundle(file);
      assert.is(cacheUsed, false);
      const mod = { exports: 0 };
      (script.runInThisContext() as (...a: unknown[]) => void)(mod.exports, null, mod);
      assert.is(mod.exports, 42);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The same command through the bundle (bin/) and through the unbundled modules (src/launch/direct.ts). */
async function same(tool: string, args: string[], input = ''): Promise<string> {
  const viaBundle = await runBin(tool, args, { input });
  const direct = await execa(process.execPath, [path.join(ROOT, 'dist/src/launch/direct.js'), tool, ...args], { input, reject: false, stripFinalNewline: false });
  assert.equal({ exitCode: viaBundle.exitCode, stdout: viaBundle.stdout, stderr: viaBundle.stderr }, { exitCode: direct.exitCode, stdout: String(direct.stdout), stderr: String(direct.stderr) }, `${tool} ${args.join(' ')}`);
  return viaBundle.stdout;
}

test('bundled tools print byte for byte what their modules print', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dvm-bundle-'));
  try {
    const pvs = ['a', 'b'].map((n) => path.join(dir, `${n}.img`));
    for (const pv of pvs) await execa('truncate', ['-s', '32M', pv]);
    // State changes run once (through the bundle); what reads it runs both ways.
    // lv-create mints random ids, so its output is compared only via tm.
    for (const args of [['init', 'bvg', ...pvs, '--extent-size', '1M'], ['update', 'bvg', ...pvs, '--', 'lv-create', 'data', '4M']]) {
      assert.is((await runBin('tm', args)).exitCode, 0);
    }
    const envelope = await same('tm', ['read', 'bvg', ...pvs]);
    assert.match(envelope, /"name":"data"/);
    const vg = JSON.stringify(JSON.parse(envelope).vg);
    await same('tm', ['verify', 'bvg', ...pvs]);
    await same('lv-extend', ['data', '+1M'], vg);
    await same('lv-extend', ['nosuch', '+1M'], vg); // an error: same line, same code
    await same('report', ['--segments', 'bvg'], envelope);
    await same('report', ['bvg'], 'garbage');
    await same('discover', ['--dir', dir, '--json']);
    await same('vol-activate', ['--none'], envelope);
    await same('dmexec', ['--version']);
    await same('dmactivate', ['--bad-option']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
