// dvm's one native addon (binding.gyp, native/*.cc), loaded the usual way:
// node-gyp-build takes build/Release when a local build exists, else the
// prebuild for this platform and Node ABI from prebuilds/ (shipped in the
// package, built by prebuildify at pack time). A missing or broken addon is
// an environment problem (exit 4), never a crash.
import nodeGypBuild from 'node-gyp-build';
import { causeOf, environmentError } from './errors.js';
import { PATHS } from './paths.js';

let cached: unknown;

/**
 * The addon's exports when it loads and has every function named, else
 * null: for users with a fallback in Node itself (src/lib/sha256.ts,
 * src/lib/raw-deflate.ts), so an old local build or a missing prebuild only costs speed.
 */
export function addonWith<T>(...names: (keyof T & string)[]): T | null {
  try {
    const a = loadAddon<Record<string, unknown>>();
    return names.every((n) => typeof a[n] === 'function') ? (a as T) : null;
  } catch {
    return null;
  }
}

/** The addon's exports; each user types the part it calls (src/dmexec/native.ts, src/transaction-manager/lock.ts). */
export function loadAddon<T>(): T {
  if (cached === undefined) {
    try {
      cached = nodeGypBuild(PATHS.root);
    } catch (e) {
      throw environmentError('cannot load native addon', 'dvm.node', `${causeOf(e).split('\n')[0]} (run 'npm rebuild dvm' to build it from source)`);
    }
  }
  return cached as T;
}
