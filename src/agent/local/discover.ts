// Local discovery (dataset-local): for each volume the listing shows attached
// to this node, its device (found or connected through the node plane), what
// is on it (the blank test, the signature), where it is mounted and whether
// something holds it. Mounts under the mount root that are none of ours are
// reported as strays and never touched.
import type { DatasetsDoc, LocalDevice, NodeStateDoc, Volume } from '../docs.js';
import type { NodePlane } from '../backend/types.js';
import type { Host } from '../apply/types.js';
import type { AppSet } from '../apps/definition.js';
import { observeApps } from '../apps/observe.js';

export interface LocalInput {
  node: string;
  mountRoot: string;
  /** The shared listing's volumes; only those attached to `node` are looked at. */
  volumes: Volume[];
  nodePlane: NodePlane;
  host: Host;
  /** Application names this node defines. */
  apps: string[];
  /** Its definitions and where it records the ones it started: devices are annotated with their application. */
  appSet?: AppSet;
  appsRuntime?: string;
  now: () => Date;
  /**
   * The desired state, when known: a volume attached here but wanted
   * elsewhere (moving, detaching, deleted, no entry) is only looked at, its
   * device never connected, so that once released it stays released until
   * the detach. Without it every attached volume's device is connected.
   */
  desired?: DatasetsDoc | null;
}

/** Whether the desired state wants this volume's dataset on `node`. */
export function wantedOn(v: Volume, node: string, desired: DatasetsDoc): boolean {
  const d = v.dataset !== null ? desired.datasets[v.dataset] : undefined;
  const entry = d ?? Object.values(desired.datasets).find((x) => x.volume === v.id);
  return entry !== undefined && !entry.deleted && entry.node === node;
}

const within = (p: string, root: string) => p.startsWith(root.endsWith('/') ? root : root + '/');

export async function discoverLocal(input: LocalInput): Promise<NodeStateDoc> {
  const { node, host } = input;
  const root = input.mountRoot.replace(/\/+$/, '') || '/';
  const devices: Record<string, LocalDevice> = {};
  const ours = new Set<string>();
  const unknown: Record<string, string> = {};
  for (const v of input.volumes) {
    if (v.attached !== node) continue;
    let found;
    try {
      const connect = !input.desired || wantedOn(v, node, input.desired);
      found = await input.nodePlane.findDevice(v, { connect });
    } catch (e) {
      // Not known to be absent: reported as unknown, never as "no device".
      unknown[v.id] = (e instanceof Error ? e.message : String(e)).replace(/[\r\n\0]+/g, ' ').slice(0, 4000);
      continue;
    }
    if (!found) continue;
    // One read of the mount table and one walk of /proc serve the whole pass
    // (the gate looks afresh before acting).
    const fresh = { maxAgeMs: 2000 };
    const probe = await host.probe(found.path, fresh);
    // A partitioned volume's filesystem (and so its mount) is its one partition's.
    const m = await host.mountedAt(probe.signature?.partition ?? found.path, fresh);
    if (m) ours.add(m.path);
    const held = await host.held(found.path, fresh);
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
      ...(probe.signature?.partition ? { partition_span: (await host.partitionSpan?.(probe.signature.partition)) ?? null } : {}),
    };
  }
  const mounts = await host.mounts({ maxAgeMs: 2000 });
  if (input.appSet && input.appsRuntime) observeApps(devices, mounts, input.appSet, input.appsRuntime);
  // A bind of a dataset's subdirectory (an application's data directory) is ours too, not a stray.
  const ourDevnos = new Set(mounts.filter((m) => ours.has(m.path)).map((m) => m.devno));
  const stray = mounts.filter((m) => within(m.path, root) && !ours.has(m.path) && !(m.devno !== null && ourDevnos.has(m.devno))).map((m) => m.path);
  return {
    format: 'dvm.node-state/1',
    node,
    observed_at: input.now().toISOString(),
    mount_root: root,
    devices,
    stray_mounts: [...new Set(stray)].sort(),
    apps: [...input.apps].sort(),
    ...(Object.keys(unknown).length ? { unknown } : {}),
  };
}
