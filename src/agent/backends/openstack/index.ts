// openstack[?knobs] — Cinder volumes attached to Nova servers (docs/openstack.md).
// Knobs: cloud=NAME (the clouds.yaml entry; else OS_CLOUD, else OS_*),
// by_id_root=DIR, wait=600s (one asynchronous operation's deadline),
// poll=1s, device_wait=30s, per_server=N|none, max_size=SIZE|none,
// unclaimed=300s|none (how often the listing looks for adoptable volumes).
// Missing or unreadable credentials are an environment error (exit 4).
import { environmentError } from '../../../lib/errors.js';
import type { BackendSpec } from '../../backend/registry.js';
import { isBackendError, type Backend, type BackendOptions } from '../../backend/types.js';
import { openOpenStack } from './open.js';

export { openOpenStack } from './open.js';

export async function openFromSpec(spec: BackendSpec, opts: BackendOptions): Promise<Backend> {
  const k = spec.knobs;
  const o = {
    spec: spec.text,
    node: opts.node,
    credentialed: opts.credentialed,
    cluster: opts.cluster ?? null,
    log: opts.log,
    cloud: k.string('cloud') ?? null,
    byIdRoot: k.string('by_id_root') ?? null,
    waitMs: k.has('wait') ? k.ms('wait', 600_000) : undefined,
    pollMs: k.ms('poll', 1000),
    deviceWaitMs: k.has('device_wait') ? k.ms('device_wait', 30_000) : undefined,
    perServer: k.has('per_server') ? k.intOrNone('per_server', null, 1) : undefined,
    maxSize: k.has('max_size') ? k.sizeOrNone('max_size', null) : undefined,
    unclaimedMs: k.has('unclaimed') ? k.msOrNone('unclaimed', 300_000) : undefined,
  };
  k.done();
  try {
    return openOpenStack(o);
  } catch (e) {
    if (isBackendError(e, 'credentials')) throw environmentError('backend', spec.text, e.message);
    throw e;
  }
}
