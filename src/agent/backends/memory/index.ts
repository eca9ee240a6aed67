// The memory backend: the seed's "abstract in-memory-only deployer type".
// State lives in a MemoryState (state.ts) that several in-process agents
// share; each agent gets its own Backend view (its node name, credentialed or
// not). From code:
//   const state = new MemoryState({ lagListings: 2, failures: [{ op: 'attach', kind: 'unavailable', times: 1 }] });
//   const b1 = memoryBackend(state, { node: 'n1', credentialed: true, cluster });
//   const b2 = memoryBackend(state, { node: 'n2', credentialed: false, cluster });
// From a spec: `memory`, `memory:NAME?latency=5ms&lag_listings=2` — agents in
// one process that name the same NAME share its state (sharedMemoryState).
import { usageError } from '../../../lib/errors.js';
import type { BackendSpec } from '../../backend/registry.js';
import { checkVolumeId } from '../../backend/common.js';
import type { Backend, BackendOptions, ControlPlane, NodePlane } from '../../backend/types.js';
import type { Volume } from '../../docs.js';
import { knobsFromSpec, type MemoryKnobs } from './knobs.js';
import { MEMORY_ID, MemoryState } from './state.js';

export { MemoryState, MEMORY_ID } from './state.js';
export type { MemoryKnobs, FailureRule, VolumeSelector, MemoryOp } from './knobs.js';

/** One agent's view of a shared MemoryState. */
export function memoryBackend(state: MemoryState, opts: BackendOptions, spec = 'memory'): Backend {
  const { node, log } = opts;
  state.registerNode(node);
  const call = async <T>(op: Parameters<MemoryState['call']>[1], id: string | null, fn: () => T): Promise<T> => {
    if (id !== null) checkVolumeId(id, MEMORY_ID);
    return state.call(node, op, id, fn, log);
  };
  const control: ControlPlane = {
    spec,
    limits: () => call('limits', null, () => state.limits()),
    list: () => call('list', null, () => state.list(opts.cluster)),
    create: (req) => call('create', null, () => state.create(req)),
    destroy: (id) => call('destroy', id, () => state.destroy(id)),
    attach: (id, to) => call('attach', id, () => state.attach(id, to)),
    detach: (id) => call('detach', id, () => state.detach(id)),
    resize: (id, size) => call('resize', id, () => state.resize(id, size)),
    setMetadata: (id, md) => call('set-metadata', id, () => state.setMetadata(id, md)),
    snapshot: (id) => call('snapshot', id, () => state.snapshot(id)),
    removeSnapshot: (id, sid) => call('remove-snapshot', id, () => state.removeSnapshot(id, sid)),
    restoreSnapshot: (id, sid) => call('restore-snapshot', id, () => state.restoreSnapshot(id, sid)),
    liveNodes: () => call('live-nodes', null, () => state.liveNodes()),
  };
  const nodePlane: NodePlane = {
    findDevice: (v: Volume, o) => call('find', v.id, () => state.findDevice(v.id, node, o?.connect ?? true)),
    verifyDevice: (v: Volume, path: string) => call('verify', v.id, () => state.verifyDevice(v.id, node, path)),
    refresh: (v: Volume) => call('refresh', v.id, () => state.refresh(v.id, node)),
    release: (v: Volume) => call('release', v.id, () => state.release(v.id, node)),
  };
  return {
    control: opts.credentialed ? control : null,
    node: nodePlane,
    volumeIdPattern: MEMORY_ID,
    close: async () => {},
  };
}

const shared = new Map<string, { state: MemoryState; knobs: string }>();

/**
 * The process-wide state called NAME: made on first use with these knobs; a
 * later use must give the same knobs or none.
 */
export function sharedMemoryState(name: string, knobs?: Partial<MemoryKnobs>, knobsText = ''): MemoryState {
  const have = shared.get(name);
  if (have) {
    if (knobsText !== '' && knobsText !== have.knobs)
      throw usageError('invalid backend', `memory:${name}`, `its state already exists with knobs '${have.knobs || 'none'}', not '${knobsText}'`);
    return have.state;
  }
  const state = new MemoryState(knobs);
  shared.set(name, { state, knobs: knobsText });
  return state;
}

/** Forgets every named state (between tests). */
export function resetSharedMemoryStates(): void {
  shared.clear();
}

export async function openFromSpec(spec: BackendSpec, opts: BackendOptions): Promise<Backend> {
  const name = spec.arg ?? 'default';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) throw usageError('invalid backend', spec.text, `state name '${name}' is not [A-Za-z0-9_.-]`);
  const knobs = knobsFromSpec(spec.knobs);
  const q = spec.text.indexOf('?');
  return memoryBackend(sharedMemoryState(name, knobs, q < 0 ? '' : spec.text.slice(q + 1)), opts, spec.text);
}
