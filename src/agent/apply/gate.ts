// The one gate of destructive steps. mkfs, shrink (filesystem and volume),
// release, detach and destroy act only through `destructive`, which re-checks
// just before acting: the election (control steps), the store's records
// (desired entry, formatted record, markers, other nodes' observed devices,
// an operator's fence),
// and for local devices their identity, that nothing mounts or holds them,
// and (mkfs) that the device is still blank or ours to re-format.
import type { DatasetStatus, DesiredDataset, PlanStep, Volume } from '../docs.js';
import type { ApplyEffects } from './types.js';

export type DestructiveKind = 'mkfs' | 'shrink-fs' | 'shrink' | 'release' | 'detach' | 'destroy';

/** A destructive step the gate refused; nothing was done. */
export class GateRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GateRefused';
  }
}

const CONTROL: ReadonlySet<DestructiveKind> = new Set(['shrink', 'detach', 'destroy']);
const LOCAL: ReadonlySet<DestructiveKind> = new Set(['mkfs', 'shrink-fs', 'release']);

/** Every destructive step runs `act` through here, and only through here. */
export async function destructive<T>(kind: DestructiveKind, step: PlanStep, fx: ApplyEffects, act: () => Promise<T>): Promise<T> {
  const volume = step.args.volume as Volume;
  const refuse = (why: string): never => {
    throw new GateRefused(`${kind} of volume '${volume.id}' refused: ${why}`);
  };
  if (!volume || typeof volume.id !== 'string') throw new GateRefused(`${kind} refused: the step names no volume`);
  if (volume.id !== step.volume) refuse(`the step's volume '${step.volume}' and its arguments disagree`);
  if (!fx.backend.volumeIdPattern.test(volume.id)) refuse(`'${volume.id}' is not a volume id of this backend`);

  if (CONTROL.has(kind)) {
    if (!fx.backend.control) refuse('this agent has no credentials');
    if (!fx.leadership || !fx.leadership.isLeader()) refuse('this agent does not hold the credentialed election');
  }

  if (!fx.store) refuse('no store to check the dataset records against');
  const store = fx.store!;
  const desired = (await store.readDesired()).value;
  const entry: DesiredDataset | undefined = desired.datasets[step.dataset];
  const status: DatasetStatus | null = (await store.readStatuses())[step.dataset] ?? null;

  switch (kind) {
    case 'mkfs':
      if (!entry || entry.deleted) refuse('the dataset is deleted or has no desired entry');
      if (status?.formatted) refuse(`the dataset was already formatted (${status.formatted.filesystem} ${status.formatted.uuid} at ${status.formatted.at}); it is never formatted again`);
      break;
    case 'shrink-fs':
    case 'shrink': {
      const to = Number(kind === 'shrink' ? step.args.size : step.args.to);
      const marker = status?.markers.shrink_started;
      const asked = entry !== undefined && entry.shrink_to !== undefined && entry.shrink_to === entry.size;
      // Only a live request: a withdrawn one is abandoned, never finished.
      if (!asked || entry!.shrink_to! > to) refuse('no shrink was asked for (a size difference never implies a shrink)');
      if (marker && marker.volume === volume.id && marker.to !== to) refuse(`the started shrink goes to ${marker.to} bytes, not ${to}`);
      const fs = status?.formatted?.filesystem;
      if (fs !== 'ext4') refuse(`only ext4 shrinks (the dataset's filesystem is ${fs ?? 'unknown'})`);
      if (kind === 'shrink') {
        if (!marker || marker.volume !== volume.id) refuse('the shrink has no started marker (the filesystem is shrunk first)');
        const owner = volume.attached;
        const dev = owner ? (await store.readNodes())[owner]?.state?.devices[volume.id] : undefined;
        if (!dev) refuse(`the filesystem's size on node '${owner}' is not known`);
        if (dev!.mount) refuse(`it is mounted at '${dev!.mount.path}' on node '${owner}'`);
        if (dev!.fs_size === null || dev!.fs_size > to) refuse(`its filesystem (${dev!.fs_size ?? 'unknown size'}) is not yet at most ${to} bytes`);
      }
      break;
    }
    case 'release':
      if (entry && !entry.deleted && entry.node === fx.node && volume.attached === fx.node) refuse(`the dataset is wanted on this node ('${fx.node}')`);
      break;
    case 'detach': {
      const owner = String(step.args.node);
      if (entry && !entry.deleted && entry.node === owner) refuse(`the dataset is wanted on node '${owner}'`);
      const nodes = await store.readNodes();
      const dev = nodes[owner]?.state?.devices[volume.id];
      if (step.args.confirmed_gone === true && step.args.fenced === true) {
        // The operator's fence, read again now: lifted since the plan, and the detach waits for the node's unmount again.
        if (!(await store.readFences())[owner]) refuse(`node '${owner}' is no longer fenced`);
      } else if (step.args.confirmed_gone === true) {
        if (nodes[owner]?.alive) refuse(`node '${owner}' is running an agent again`);
        const live = fx.backend.control!.liveNodes ? await fx.backend.control!.liveNodes() : null;
        if (!Array.isArray(live) || live.includes(owner)) refuse(`the backend does not confirm node '${owner}' is gone`);
      } else {
        if (!nodes[owner]?.state) refuse(`node '${owner}' has not reported its devices`);
        const lookup = nodes[owner]!.state.unknown?.[volume.id];
        if (lookup !== undefined) refuse(`node '${owner}' could not look up its device (${lookup})`);
        if (dev) refuse(`node '${owner}' still has device '${dev.path}'${dev.mount ? ` mounted at '${dev.mount.path}'` : ''}`);
      }
      break;
    }
    case 'destroy': {
      if (!entry) refuse('the dataset has no desired entry (a missing entry is never a destroy)');
      if (!entry!.deleted) refuse('the dataset is not marked deleted');
      if (entry!.app !== undefined) refuse(`the dataset is bound to application '${entry!.app}'`);
      const nodes = await store.readNodes();
      const fences = await store.readFences();
      let live: string[] | null | undefined;
      // A dead node the backend confirms gone: its last state is a stale record, as the planner reads it.
      const confirmedGone = async (n: string) => {
        if (nodes[n]?.alive || !fx.backend.control?.liveNodes) return false;
        live ??= await fx.backend.control.liveNodes();
        return Array.isArray(live) && !live.includes(n);
      };
      for (const [n, e] of Object.entries(nodes)) {
        if (fences[n]) continue; // a fenced node's last state is history (the volume was detached from it)
        const dev = e.state?.devices[volume.id];
        if (dev && !(await confirmedGone(n))) refuse(`node '${n}' still has device '${dev.path}'`);
        if (e.state?.unknown?.[volume.id] !== undefined) refuse(`node '${n}' could not look up its device`);
      }
      if (volume.attached !== null) refuse(`it is attached to node '${volume.attached}'`);
      break;
    }
  }

  if (LOCAL.has(kind)) {
    const device = String(step.args.device ?? '');
    if (!device) refuse('the step names no device');
    const bad = await fx.backend.node.verifyDevice(volume, device);
    if (bad) refuse(`'${device}' is not this volume's device: ${bad}`);
    const mounted = await fx.host.mountedAt(device);
    if (mounted) refuse(`'${device}' is mounted at '${mounted.path}'`);
    const held = await fx.host.held(device);
    if (held) refuse(`'${device}' is ${held}`);
    const busy = await fx.host.inUse?.(device);
    if (busy) refuse(`'${device}' is in use: ${busy}`);
    if (kind === 'mkfs') {
      const p = await fx.host.probe(device);
      const marker = status?.markers.mkfs_started;
      const ours = marker !== undefined && marker.volume === volume.id;
      if (p.blank === null) refuse(`'${device}' could not be read, so it is not known to be blank: ${p.error}`);
      if (p.signature) refuse(`'${device}' holds a ${p.signature.type} filesystem`);
      if (!p.blank && !ours) refuse(`'${device}' is not blank (${p.error ?? 'something is on it'}) and no interrupted mkfs of ours is recorded`);
    }
  }
  return act();
}
