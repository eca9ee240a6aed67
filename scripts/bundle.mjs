// Build step: bundle each tool into one CommonJS file next to its entry module
// (dist/src/<folder>/<tool>.bundle.cjs, same depth, so the entry's relative
// URLs to package.json, validators and the native addon still resolve), then
// train each bundle's V8 code cache by running the tools on a scratch VG.
// Why: see src/lib/bundle-loader.cts; measured effect: bench/README.md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
// The loader (compiled by tsc before this step) names the cache file.
const { cachePath } = createRequire(import.meta.url)('../dist/src/lib/bundle-loader.cjs');
const TOOLS = {
  tm: 'transaction-manager/tm-main',
  discover: 'discovery/discover-main',
  report: 'report/main',
  'vol-activate': 'vol-activate/main',
  dmactivate: 'dmactivate/main',
  dmexec: 'dmexec/main',
  'lv-create': 'metadata-manip/lv-create-main',
  'lv-extend': 'metadata-manip/lv-extend-main',
  'lv-reduce': 'metadata-manip/lv-reduce-main',
  'lv-remove': 'metadata-manip/lv-remove-main',
  'lv-rename': 'metadata-manip/lv-rename-main',
  'pv-change': 'metadata-manip/pv-change-main',
  dataset: 'agent/cli/dataset-main',
};

// At dist/src/<top folder>/, the depth of dist/src/lib: what the modules'
// relative URLs assume (agent tools' entries sit deeper, in src/agent/<part>/).
function bundlePath(tool) {
  return path.join(root, 'dist/src', TOOLS[tool].split('/')[0], `${tool}.bundle.cjs`);
}

/**
 * string-width (used by yargs and cliui only to lay out help text) builds an
 * Intl.Segmenter and Unicode-property regexes when its module loads: ~55 ms
 * of every tool's start (CPU profile, host). This makes it load on first use.
 */
const lazyStringWidth = {
  name: 'lazy-string-width',
  setup(b) {
    b.onResolve({ filter: /^string-width$/ }, async (args) => {
      if (args.pluginData?.real) return undefined;
      const real = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, pluginData: { real: true } });
      return { path: real.path, namespace: 'lazy-string-width' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-string-width' }, (args) => ({
      contents: `let real;\nexport default function stringWidth(...a) {\n  real ??= require(${JSON.stringify(args.path)}).default;\n  return real(...a);\n}\n`,
      resolveDir: path.dirname(args.path),
    }));
  },
};

async function bundleAll() {
  for (const tool of Object.keys(TOOLS)) {
    for (const f of [bundlePath(tool), cachePath(bundlePath(tool))]) rmSync(f, { force: true });
    await build({
      entryPoints: [path.join(root, 'dist/src', `${TOOLS[tool]}.js`)],
      outfile: bundlePath(tool),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      // Our modules find package.json, the validators and the addon relative
      // to their own URL; in CommonJS that URL comes from __filename.
      define: { 'import.meta.url': '__bundleUrl' },
      banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
      plugins: [lazyStringWidth],
      // execa stays inside (initialized only when tm forks): a dynamic import()
      // from a script compiled with a code cache has no loader in Node 20.
      //
      // Smaller files to read at each start (the VM reads them over 9p); names kept for stack traces.
      minifyWhitespace: true,
      minifySyntax: true,
      logLevel: 'warning',
    });
  }
}

/** Runs the tools on a scratch VG in files, as users do, so the cache holds what real runs compile. */
function train() {
  const dir = mkdtempSync(path.join(tmpdir(), 'dvm-train-'));
  const env = { ...process.env, DVM_CODE_CACHE: 'train' };
  delete env.DVM_TM_FORK;
  const run = (tool, args, input) =>
    execFileSync(process.execPath, [path.join(root, 'bin', `${tool}.js`), ...args], { env, input, cwd: dir, stdio: ['pipe', 'pipe', 'ignore'] }).toString();
  try {
    const pvs = ['a', 'b'].map((n) => path.join(dir, `pv-${n}.img`));
    for (const pv of pvs) writeFileSync(pv, ''), execFileSync('truncate', ['-s', '64M', pv]);
    for (const tool of Object.keys(TOOLS)) run(tool, ['--help']);
    run('tm', ['init', 'trainvg', ...pvs, '--extent-size', '1M']);
    run('tm', ['update', 'trainvg', ...pvs, '--', 'lv-create', 'one', '8M']);
    run('tm', ['update', 'trainvg', ...pvs, '--', 'lv-create', 'two', '8M', '--stripes', '2']);
    run('tm', ['update', 'trainvg', ...pvs, '--', 'lv-extend', 'one', '+4M']);
    run('tm', ['verify', 'trainvg', ...pvs]);
    run('tm', ['history', 'trainvg', ...pvs]);
    const paths = run('discover', ['--dir', dir, 'trainvg']);
    run('discover', ['--dir', dir, '--json']);
    const envelope = run('tm', ['read', 'trainvg', ...paths.trim().split('\n')]);
    const vg = JSON.stringify(JSON.parse(envelope).vg);
    run('lv-create', ['three', '4M', '--mirrors', '1'], vg);
    run('lv-extend', ['one', '+1M'], vg);
    run('lv-reduce', ['one', '-1M'], vg);
    run('lv-remove', ['two'], vg);
    run('lv-rename', ['one', 'uno'], vg);
    run('pv-change', ['--help'], vg);
    for (const args of [[], ['--segments'], ['--pvs'], ['--vgs'], ['--json']]) run('report', [...args, 'trainvg'], envelope);
    const none = run('vol-activate', ['--none'], envelope);
    const currentFile = path.join(dir, 'current.json');
    writeFileSync(currentFile, none);
    // vol-activate --all needs block devices; a hand-made desired state
    // trains the planner and dmexec on the same kinds of tables.
    const scope = JSON.parse(none).scope;
    const table = (params) => [{ start: 0, length: 8192, target: 'linear', params }];
    const desired = JSON.stringify({
      format: 'dvm.dm/1',
      scope,
      devices: [
        { name: 'trainvg-one', uuid: `${scope}-one`, table: table('7:0 2048') },
        { name: 'trainvg-top', uuid: `${scope}-top`, table: table('dm:trainvg-one 0') },
      ],
    });
    const program = run('dmactivate', ['--current', currentFile], desired);
    run('dmexec', ['--dry-run'], program);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await bundleAll();
try {
  train();
} catch (e) {
  // A cache is an optimization: without it every tool still runs, only slower.
  for (const tool of Object.keys(TOOLS)) rmSync(cachePath(bundlePath(tool)), { force: true });
  console.error(`bundle: training the code cache failed, tools will compile at start: ${e.message.split('\n')[0]}`);
  process.exitCode = 1;
}
const cached = Object.keys(TOOLS).filter((t) => existsSync(cachePath(bundlePath(t))));
console.log(`bundles: ${Object.keys(TOOLS).length} tools bundled, ${cached.length} code caches trained`);
