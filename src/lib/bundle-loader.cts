// Starts a tool from its one-file bundle with V8's code cache (see
// scripts/bundle.mjs and bench/README.md). Each tool is a short-lived process:
// compiling its ~40 modules from source at every start costs more than the
// work it does on a small VG, and Node 20 has no module compile cache of its
// own. The cache is made at build time by running the tools on a scratch VG
// (DVM_CODE_CACHE=train), so it holds the functions a real run needs. A cache
// V8 rejects (another Node, another V8 flag set) only costs the compile time:
// the source is always the truth.
// CommonJS, like the shims (bin/package.json): an ES module shim costs the
// ESM loader and a facade per builtin, ~10-15 ms of each start on this host.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import Module = require('node:module');
import path = require('node:path');
import vm = require('node:vm');

export function cachePath(bundle: string): string {
  return `${bundle}.cache`;
}

/** Compiles a CommonJS bundle, using and (when training) refreshing its code cache. */
export function compileBundle(bundle: string): { script: vm.Script; cacheUsed: boolean } {
  const source = readFileSync(bundle, 'utf8');
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cachePath(bundle));
  } catch {
    cachedData = undefined; // not built yet or removed: compile from source
  }
  const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData });
  return { script, cacheUsed: cachedData !== undefined && !script.cachedDataRejected };
}

/** Runs the tool bundled at `bundle` (an absolute path) as the main program. */
export function runBundle(bundle: string): void {
  const { script } = compileBundle(bundle);
  if (process.env.DVM_CODE_CACHE === 'train') {
    // After the run the cache also holds the functions compiled lazily during it.
    process.once('exit', () => {
      const tmp = `${cachePath(bundle)}.${process.pid}`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cachePath(bundle));
    });
  }
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  const mod = { exports: {}, filename: bundle, id: '.', loaded: false };
  wrapper.call(mod.exports, mod.exports, Module.createRequire(bundle), mod, bundle, path.dirname(bundle));
}
