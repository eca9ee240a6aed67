// Each tool starts from a one-file bundle with a trained V8 code cache
// (scripts/bundle.mjs, src/lib/bundle-loader.ts). The bundle must behave
// exactly like the modules it was made from, and its cache must be one V8
// accepts, or the start-up gain silently disappears.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compileBundle } from '../../src/lib/bundle-loader.cjs';
import { ROOT, runBin } from '../helpers/cli.js';

/** tool -> bundle path, read from the shims themselves. */
function shims(): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of readdirSync(path.join(ROOT, 'bin')).filter((x) => x.endsWith('.js'))) {
    const m = /'\.\.\/(dist\/src\/[^']+\.bundle\.cjs)'/.exec(readFileSync(path.join(ROOT, 'bin', f), 'utf8'));
    assert.ok(m, `bin/${f} starts a bundle`);
    out.set(f.replace(/\.js$/, ''), path.join(ROOT, m[1]));
  }
  return out;
}

test('every shim starts a bundle whose trained code cache V8 accepts', () => {
  const all = shims();
  // One shim per tool package.json declares (agents add tools).
  const declared = Object.keys(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).bin as Record<string, string>);
  assert.equal([...all.keys()].sort(), declared.sort());
  for (const [tool, bundle] of all) assert.ok(compileBundle(bundle).cacheUsed, `${tool}: code cache missing or rejected`);
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

/** The same command through the bundle (bin/) and through the unbundled entry module. */
async function same(tool: string, entry: string, args: string[], input = ''): Promise<string> {
  const viaBundle = await runBin(tool, args, { input });
  const direct = await execa(process.execPath, [path.join(ROOT, 'dist/src', entry), ...args], { input, reject: false, stripFinalNewline: false });
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
    const envelope = await same('tm', 'transaction-manager/tm-main.js', ['read', 'bvg', ...pvs]);
    assert.match(envelope, /"name":"data"/);
    const vg = JSON.stringify(JSON.parse(envelope).vg);
    await same('tm', 'transaction-manager/tm-main.js', ['verify', 'bvg', ...pvs]);
    await same('lv-extend', 'metadata-manip/lv-extend-main.js', ['data', '+1M'], vg);
    await same('lv-extend', 'metadata-manip/lv-extend-main.js', ['nosuch', '+1M'], vg); // an error: same line, same code
    await same('report', 'report/main.js', ['--segments', 'bvg'], envelope);
    await same('report', 'report/main.js', ['bvg'], 'garbage');
    await same('discover', 'discovery/discover-main.js', ['--dir', dir, '--json']);
    await same('vol-activate', 'vol-activate/main.js', ['--none'], envelope);
    await same('dmexec', 'dmexec/main.js', ['--version']);
    await same('dmactivate', 'dmactivate/main.js', ['--bad-option']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
