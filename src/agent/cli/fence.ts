// `dataset node fence|unfence NODE`: the operator's word that a node is gone
// (powered off, cut from the storage), kept in the store. A fenced node counts
// as confirmed gone: the credentialed node detaches its volumes without its
// unmount, so a pending move proceeds; its agent, should it come back, does
// nothing until the fence is lifted. The store refuses to fence a node whose
// agent runs (lease or lock held), atomically with the write.
import { hostname, userInfo } from 'node:os';
import type { DatasetsDoc, NodeFence, VolumesDoc } from '../docs.js';
import { StoreConflict, type Store } from '../store/types.js';

/** Who runs the command, for the record (never trusted for anything). */
export function operatorName(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    user = String(process.getuid?.() ?? 'unknown');
  }
  return `${user}@${hostname()}`.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 255);
}

/** The datasets whose volume the listing shows attached to `node`, by name. */
export function datasetsOn(node: string, listing: VolumesDoc | null, desired: DatasetsDoc): string[] {
  const names = (listing?.volumes ?? []).filter((v) => v.attached === node).map((v) => (v.dataset !== null ? desired.datasets[v.dataset]?.name : undefined) ?? v.id);
  return [...new Set(names)].sort();
}

/** Fences `node`; returns the line to print. Refuses a node the store knows nothing of (a typo fences nobody). */
export async function fence(store: Store, node: string, reason: string | null, now: Date, by = operatorName()): Promise<string> {
  const [nodes, listing, fences, desired] = await Promise.all([store.readNodes(), store.readListing(), store.readFences(), store.readDesired()]);
  const held = datasetsOn(node, listing, desired.value);
  if (!nodes[node] && held.length === 0 && !fences[node]) {
    throw new StoreConflict(`node '${node}': not known to store '${store.describe}': it never reported and no volume is attached to it ('dataset status' lists the nodes)`);
  }
  const doc: NodeFence = { format: 'dvm.node-fence/1', node, reason, at: now.toISOString(), by };
  await store.fenceNode(doc); // NodeAlive (exit 1) while its agent runs
  const what = held.length > 0 ? `its volumes are detached without its unmount (${held.join(', ')})` : 'nothing is attached to it';
  return `node '${node}' fenced: it counts as gone; ${what}; its agent does nothing until 'dataset node unfence ${node}'`;
}

export async function unfence(store: Store, node: string): Promise<string> {
  const had = await store.unfenceNode(node);
  return had ? `node '${node}' unfenced: its agent works again once it runs` : `node '${node}' was not fenced`;
}
