// What the datasets schema cannot say about a desired state as a whole: names
// are unique, adopted volumes are claimed once, and no explicit mount point is
// inside (or equal to) another's. Default mounts (`<mount root>/<name>`) are
// distinct children of the mount root because names are unique; the planner,
// which knows the mount root, checks explicit mounts against them.
import type { DatasetsDoc } from './docs.js';

const inside = (a: string, b: string) => a === b || a.startsWith(b + '/');

/** The first problem found, or null. `source` names the document in messages. */
export function desiredProblem(doc: DatasetsDoc): string | null {
  const names = new Map<string, string>();
  const volumes = new Map<string, string>();
  const mounts: { id: string; name: string; mount: string }[] = [];
  for (const [id, d] of Object.entries(doc.datasets)) {
    const other = names.get(d.name);
    if (other) return `dataset name '${d.name}' is used by ${other} and ${id}`;
    names.set(d.name, id);
    if (d.volume !== undefined) {
      const v = volumes.get(d.volume);
      if (v) return `volume '${d.volume}' is adopted by both '${v}' and '${d.name}'`;
      volumes.set(d.volume, d.name);
    }
    if (d.shrink_to !== undefined && d.shrink_to !== d.size) return `dataset '${d.name}': shrink_to (${d.shrink_to}) differs from size (${d.size})`;
    if (d.mount !== null && !d.deleted) mounts.push({ id, name: d.name, mount: d.mount });
  }
  // Each explicit mount's ancestors looked up by path component: O(n x depth).
  const byMount = new Map<string, string>();
  for (const m of mounts) {
    const other = byMount.get(m.mount);
    if (other) return `mount '${m.mount}' is used by both '${other}' and '${m.name}'`;
    byMount.set(m.mount, m.name);
  }
  for (const m of mounts) {
    for (let i = m.mount.lastIndexOf('/'); i > 0; i = m.mount.lastIndexOf('/', i - 1)) {
      const other = byMount.get(m.mount.slice(0, i));
      if (other) return `mount '${m.mount}' of '${m.name}' is inside '${m.mount.slice(0, i)}' of '${other}'`;
    }
  }
  return null;
}

/** Whether a mount point lies inside (or is) another dataset's explicit mount. */
export function mountClash(doc: DatasetsDoc, mount: string, exceptId?: string): string | null {
  for (const [id, d] of Object.entries(doc.datasets)) {
    if (id === exceptId || d.mount === null || d.deleted) continue;
    if (inside(mount, d.mount) || inside(d.mount, mount)) return `'${mount}' overlaps '${d.mount}', the mount of '${d.name}'`;
  }
  return null;
}
