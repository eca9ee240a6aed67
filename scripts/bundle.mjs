// Build step: bundle every tool into one multi-call CommonJS file
// (dist/dvm.cjs, entry src/launch/dispatch.ts, tools from src/tools.ts), then
// train its one V8 code cache by running every tool on a scratch VG.
// Why: see src/launch/loader.cts; measured effect: bench/README.md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const { name: packageName, version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
// The loader (compiled by tsc before this step) names the bundle and its cache.
const { BUNDLE, cachePath } = createRequire(import.meta.url)('../dist/src/launch/loader.cjs');
const { TOOLS } = await import(path.join(root, 'dist/src/tools.js'));

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

/**
 * Text swaps in modules that would load a Node builtin at every start for
 * something a short-lived tool rarely or never does. Every builtin outside
 * Node's start-up snapshot is compiled when first required (docs/startup.md).
 * The build fails when a text is not found (the module changed: update the table).
 *
 * - yargs' platform shim imports node:assert (which loads util's inspector,
 *   the assertion error's colours and so a stderr stream) and reads
 *   process.stdout.columns when its module loads (which builds a stdout
 *   stream): ~6 ms of every start, for two equality checks of yargs' own
 *   arguments and a help-text width. It gets the same checks inline and
 *   reads the width when help is laid out.
 * - yargs' package.json search (see below) walked up from the cwd.
 * - node:module (it pulls in the ES module loader: ~2 ms) is imported for
 *   createRequire by our builtins.ts, yargs' shim and yargs-parser, as ES
 *   modules must; in the bundle the loader's own require is at hand.
 * - node-gyp-build requires node:os (~2 ms) for os.arch() and os.platform(),
 *   which Node documents as process.arch and process.platform.
 */
const PATCHES = [
  {
    file: /yargs[\\/]lib[\\/]platform-shims[\\/]esm\.mjs$/,
    swaps: [
      ["import { notStrictEqual, strictEqual } from 'assert'",
        "const fail = (m) => { throw Object.assign(new Error(m), { code: 'ERR_ASSERTION' }) };\n" +
        "const strictEqual = (a, b, m) => { if (!Object.is(a, b)) fail(m ?? `${a} !== ${b}`) };\n" +
        "const notStrictEqual = (a, b, m) => { if (Object.is(a, b)) fail(m ?? `${a} === ${b}`) };"],
      ["stdColumns: typeof process.stdout.columns !== 'undefined' ? process.stdout.columns : null",
        "get stdColumns() { return typeof process.stdout.columns !== 'undefined' ? process.stdout.columns : null }"],
      ["import { createRequire } from 'node:module';", ''],
      ['const require = createRequire(import.meta.url);', ''],
      // yargs looks for the package.json above the module that holds it
      // ('node_modules'): from the bundle it found no such path and walked
      // up from the cwd at every parse, so a package.json there could have
      // changed how dvm parses. It starts at dvm's root, as unbundled.
      ["const mainFilename = __dirname.substring(0, __dirname.lastIndexOf('node_modules'));",
        "const mainFilename = __dirname.substring(0, __dirname.lastIndexOf('/dist/') + 1);"],
    ],
  },
  {
    file: /yargs-parser[\\/]build[\\/]lib[\\/]index\.js$/,
    swaps: [
      ["import { createRequire } from 'node:module';", ''],
      ['const require = createRequire ? createRequire(import.meta.url) : undefined;', ''],
    ],
  },
  {
    file: /dist[\\/]src[\\/]lib[\\/]builtins\.js$/,
    swaps: [
      ["import { createRequire } from 'node:module';", ''],
      ['createRequire(import.meta.url)', 'require'],
    ],
  },
  {
    file: /node-gyp-build[\\/]node-gyp-build\.js$/,
    swaps: [
      ["var os = require('os')", 'var os = { arch: () => process.arch, platform: () => process.platform }'],
      // It reads the package.json of the directory it is given for the name
      // of a <NAME>_PREBUILD override (~1-2 ms: a require of the file); in
      // the bundle it is only ever given dvm's own root.
      ["var name = runtimeRequire(path.join(dir, 'package.json')).name.toUpperCase().replace(/-/g, '_')", `var name = ${JSON.stringify(packageName.toUpperCase().replace(/-/g, '_'))}`],
    ],
  },
];

const patchModules = {
  name: 'patch-modules',
  setup(b) {
    for (const { file, swaps } of PATCHES) {
      b.onLoad({ filter: file }, async (args) => {
        const { readFile } = await import('node:fs/promises');
        let src = await readFile(args.path, 'utf8');
        for (const [from, to] of swaps) {
          if (!src.includes(from)) throw new Error(`patch-modules: '${from}' not found in ${args.path} (the module changed: update PATCHES)`);
          src = src.replace(from, to);
        }
        return { contents: src, loader: 'js', resolveDir: path.dirname(args.path) };
      });
    }
  },
};

async function bundleAll() {
  for (const f of [BUNDLE, cachePath(BUNDLE)]) rmSync(f, { force: true });
  await build({
      entryPoints: [path.join(root, 'dist/src/launch/dispatch.js')],
      outfile: BUNDLE,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      // src/lib/paths.ts finds the package root from its own URL; in the
      // bundle that is the bundle's, from __filename.
      // Every tool's yargs wants the version at start: reading package.json for it cost ~1-2 ms.
      define: { 'import.meta.url': '__bundleUrl', DVM_BUNDLED_VERSION: JSON.stringify(version) },
      banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
      plugins: [lazyStringWidth, patchModules],
      // etcd3 loads its .proto files relative to its own directory at run
      // time: it stays a plain require from node_modules (loaded only for etcd:// stores).
      external: ['etcd3'],
      // Each tool's import() in src/tools.ts becomes a lazy initializer of its
      // modules (esbuild wraps them), so a start evaluates one tool's code.
      // execa stays inside too (initialized only when tm forks): a real dynamic
      // import() from a script compiled with a code cache has no loader in Node 20.
      //
      // Smaller files to read at each start (the VM reads them over 9p):
      // with short local names 1.11 MB instead of 1.48 (~1 ms of a start).
      // keepNames: functions and classes keep their names, for stack traces
      // and the errors recognised by name.
      minifyWhitespace: true,
      // ASCII only (esbuild escapes the rest), so the loader reads it as latin1: ~1 ms less than decoding UTF-8.
      charset: 'ascii',
      minifySyntax: true,
      minifyIdentifiers: true,
      keepNames: true,
      logLevel: 'warning',
  });
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
  rmSync(cachePath(BUNDLE), { force: true });
  console.error(`bundle: training the code cache failed, tools will compile at start: ${e.message.split('\n')[0]}`);
  process.exitCode = 1;
}
console.log(`bundle: ${Object.keys(TOOLS).length} tools in dist/dvm.cjs, code cache ${existsSync(cachePath(BUNDLE)) ? 'trained' : 'MISSING'}`);
