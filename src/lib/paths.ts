// Where dvm's files are, for every module, bundled or not (package.json,
// bin/, dist/, the native addon, schemas/). Compiled modules
// live under <root>/dist (dist/src/... unbundled, dist/dvm.cjs bundled), so
// the package root is what precedes the last '/dist/' in this module's own
// path: no '../../..' counted per folder depth, and it holds wherever npm
// installs the package.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function packageRoot(): string {
  const here = fileURLToPath(import.meta.url);
  const at = here.lastIndexOf(`${path.sep}dist${path.sep}`);
  if (at < 0) throw new Error(`dvm: cannot tell the package root from ${here} (expected it under <root>/dist/)`);
  return here.slice(0, at);
}

export const ROOT = packageRoot();
export const PATHS = {
  root: ROOT,
  packageJson: path.join(ROOT, 'package.json'),
  /** the generated per-tool shims (bin/<tool>.js) */
  bin: path.join(ROOT, 'bin'),
  dist: path.join(ROOT, 'dist'),
  /** the native addon (binding.gyp at the root): a local build, else the shipped prebuilds */
  addonBuild: path.join(ROOT, 'build/Release'),
  prebuilds: path.join(ROOT, 'prebuilds'),
  schemas: path.join(ROOT, 'schemas'),
};

/** The shim that starts one of our tools with this node (bin/<tool>.js). */
export const toolShim = (tool: string): string => path.join(PATHS.bin, `${tool}.js`);
