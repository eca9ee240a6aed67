// The backend contract suite (test/helpers/backend-contract.ts) against the
// OpenStack backend on a real Cinder (noauth) with the Nova double: one
// Cinder for the file; each case's world is the volumes it made, detached
// and destroyed when it ends.
import { backendContract, type ContractWorld } from '../helpers/backend-contract.js';
import { GiB } from '../../src/agent/backends/openstack/control.js';
import { startTestCloud, type TestCloud } from '../helpers/openstack/cloud.js';
import type { Backend } from '../../src/agent/backend/types.js';

let cloud: Promise<TestCloud> | null = null;
const t0 = Date.now();

process.on('beforeExit', () => {
  const c = cloud;
  cloud = null;
  if (c) {
    void c.then(async (x) => {
      await x.stop();
      console.log(`openstack contract: cinder answered after ${x.cinder.startMs} ms; ${Math.round((Date.now() - t0) / 1000)} s in all`);
    });
  }
});

backendContract({
  name: 'openstack (real Cinder, Nova double)',
  unknownId: '00000000-0000-4000-8000-000000000000',
  size: GiB,
  realDevices: true,
  detectsConnected: false,
  async setup(): Promise<ContractWorld> {
    const c = await (cloud ??= startTestCloud({ servers: ['n1', 'n2'] }));
    const made: Backend[] = [];
    return {
      async backend(node, opts) {
        const b = c.backend(node, { cluster: opts.cluster, credentialed: opts.credentialed, deviceWaitMs: 1500 });
        made.push(b);
        return b;
      },
      async cleanup() {
        // Everything this case's clusters made goes: detached first, then destroyed.
        for (const b of made) {
          if (!b.control) continue;
          for (const v of await b.control.list()) {
            if (v.attached) await b.control.detach(v.id).catch(() => undefined);
            await b.control.destroy(v.id).catch(() => undefined);
          }
        }
      },
    };
  },
});
