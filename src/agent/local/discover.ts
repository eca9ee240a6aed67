// Local discovery (dataset-local): for each volume the listing shows attached
// to this node, its device (found or connected through the node plane), what
// is on it (the blank test, the signature), where it is mounted and whether
// something holds it. Mounts under the mount root that are none of ours are
// reported as strays and never touched.
import type { LocalDevice, NodeStateDoc, Volume } from '../docs.js';
import type { NodePlane } from '../backend/types.js';
import type { Host } from '../apply/types.js';

export interface LocalInput {
  node: string;
  mountRoot: string;
  /** The shared listing's volumes; only those attached to `node` are looked at. */
  volumes: Volume[];
  nodePlane: NodePlane;
  host: Host;
  /** Application names this node defines. */
  apps: string[];
  now: () => Date;
}

const within = (p: string, root: string) => p.startsWith(root.endsWith('/') ? root : root + '/');

export async function discoverLocal(input: LocalInput): Promise<NodeStateDoc> {
  const { node, host } = input;
  const root = input.mountRoot.replace(/\/+$/, '') || '/';
  const devices: Record<string, LocalDevice> = {};
  const ours = new Set<string>();
  for (const v of input.volumes) {
    if (v.attached !== node) continue;
    let found;
    try {
      found = await input.nodePlane.findDevice(v);
    } catch (e) {
      // A device that cannot be found is reported by its absence; the plan waits for it.
      found = null;
      void e;
    }
    if (!found) continue;
    const probe = await host.probe(found.path);
    const m = await host.mountedAt(found.path);
    if (m) ours.add(m.path);
    const held = await host.held(found.path);
    devices[v.id] = {
      path: found.path,
      identity: found.identity,
      size: found.size,
      blank: probe.blank,
      signature: probe.signature,
      mount: m ? { path: m.path, read_only: m.read_only } : null,
      held: held !== null,
      fsck: null,
      fs_size: probe.fs_size,
      error: probe.error,
    };
  }
  const stray = (await host.mounts()).filter((m) => within(m.path, root) && !ours.has(m.path)).map((m) => m.path);
  return {
    format: 'dvm.node-state/1',
    node,
    observed_at: input.now().toISOString(),
    mount_root: root,
    devices,
    stray_mounts: [...new Set(stray)].sort(),
    apps: [...input.apps].sort(),
  };
}
