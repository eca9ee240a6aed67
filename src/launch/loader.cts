// Starts a dvm tool from the multi-call bundle (dist/dvm.cjs, built by
// scripts/bundle.mjs from src/launch/dispatch.ts) with V8's code cache. Each
// tool is a short-lived process: compiling its modules from source at every
// start costs more than the work it does on a small VG, and Node 20 has no
// module compile cache of its own. The one cache is made at build time by
// running every tool on a scratch VG (DVM_CODE_CACHE=train), so it holds the
// functions real runs need. A cache V8 rejects (another Node, other V8 flags)
// only costs the compile time: the source is always the truth.
// CommonJS, like the shims (bin/package.json): an ES module shim costs the
// ESM loader and a facade per builtin, ~10-15 ms of each start on this host.
// node:module is not required: it is outside Node's start-up snapshot and
// costs ~2 ms of every start to compile (it pulls in the ES module loader);
// the bundle gets this module's own require (builtins, and etcd3 from the
// package's node_modules), and the wrapper is written out here.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path = require('node:path');
import vm = require('node:vm');

/** Node's CommonJS wrapper (Module.wrap), so the bundle sees exports, require, module, __filename, __dirname. */
const wrap = (source: string) => `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;

/** dist/src/launch/loader.cjs -> dist/dvm.cjs */
export const BUNDLE = path.join(__dirname, '../../dvm.cjs');

export function cachePath(bundle: string): string {
  return `${bundle}.cache`;
}

/** Compiles a CommonJS bundle, using its code cache when V8 accepts it. */
export function compileBundle(bundle: string): { script: vm.Script; cacheUsed: boolean } {
  const source = readFileSync(bundle, 'latin1'); // ASCII (scripts/bundle.mjs: charset)
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cachePath(bundle));
  } catch {
    cachedData = undefined; // not built yet or removed: compile from source
  }
  const script = new vm.Script(wrap(source), { filename: bundle, cachedData });
  return { script, cacheUsed: cachedData !== undefined && !script.cachedDataRejected };
}

/** Evaluates the bundle at `bundle` (an absolute path) and returns its exports. */
export function loadBundle(bundle = BUNDLE): Record<string, unknown> {
  const { script } = compileBundle(bundle);
  if (process.env.DVM_CODE_CACHE === 'train') {
    // After the run the cache also holds the functions compiled lazily during
    // it; the next training run starts from it, so the cache accumulates every tool's.
    process.once('exit', () => {
      const tmp = `${cachePath(bundle)}.${process.pid}`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cachePath(bundle));
    });
  }
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  const mod = { exports: {} as Record<string, unknown>, filename: bundle, id: '.', loaded: false };
  wrapper.call(mod.exports, mod.exports, require, mod, bundle, path.dirname(bundle));
  return mod.exports;
}

/**
 * The shims of tools that use no TLS start node without NODE_EXTRA_CA_CERTS
 * (Node parses that whole bundle at start, before any JavaScript) and pass
 * the user's value in this variable instead (scripts/tools.mjs, docs/startup.md).
 */
export const SAVED_CA = 'DVM_NODE_EXTRA_CA_CERTS';

/** Put the user's NODE_EXTRA_CA_CERTS back, so every child process (--sync participants) gets the environment as the user set it. */
export function restoreCaSetting(env: NodeJS.ProcessEnv = process.env): void {
  const saved = env[SAVED_CA];
  if (saved === undefined) return;
  delete env[SAVED_CA];
  if (saved !== '') env.NODE_EXTRA_CA_CERTS = saved;
}

/** Runs the tool `tool` (a name in src/tools.ts) as the main program. */
export function run(tool: string): void {
  restoreCaSetting();
  (loadBundle().start as (tool: string) => void)(tool);
}
