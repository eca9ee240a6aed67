// Mount paths: where a dataset is mounted and whether that path is allowed.
// Checked at plan time (blocked with the reason) and again by the executor.
import type { DesiredDataset } from '../docs.js';

/** A dataset's mount point on a node whose mount root is `root`. */
export function mountPathFor(d: Pick<DesiredDataset, 'name' | 'mount'>, root: string): string {
  return d.mount ?? `${root.replace(/\/+$/, '')}/${d.name}`;
}

const within = (inner: string, outer: string) => inner === outer || inner.startsWith(outer.endsWith('/') ? outer : outer + '/');

/**
 * Null when `path` may be a mount point under `root`, else why not:
 * absolute, no `.`/`..` components or empty ones, strictly under the root.
 */
export function mountPathProblem(path: string, root: string): string | null {
  if (!path.startsWith('/')) return `mount path '${path}' is not absolute`;
  const parts = path.split('/').slice(1);
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return `mount path '${path}' has an empty, '.' or '..' component`;
  if (/[\0\n\r]/.test(path)) return `mount path has a control character`;
  if (!root.startsWith('/')) return `mount root '${root}' is not absolute`;
  const r = root.replace(/\/+$/, '') || '/';
  if (path === r || !within(path, r)) return `mount path '${path}' is not under the mount root '${r}'`;
  return null;
}

/**
 * Null when `path` is neither another dataset's mount point nor inside one.
 * `byPath` maps each mount path on the same node to its dataset's name; the
 * check walks the path's ancestors, so a pass over many datasets stays linear.
 */
export function nestedMountProblem(path: string, name: string, byPath: ReadonlyMap<string, string[]>): string | null {
  const same = byPath.get(path)?.filter((n) => n !== name) ?? [];
  if (same.length) return `mount path '${path}' is also dataset '${same[0]}''s`;
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const outer = byPath.get(path.slice(0, i));
    if (outer?.length) return `mount path '${path}' is inside dataset '${outer[0]}''s mount '${path.slice(0, i)}'`;
  }
  return null;
}
