// The store contract suite against the etcd store: one throwaway etcd member
// for the file (killed when the process exits), a fresh prefix per case.
import { randomUUID } from 'node:crypto';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { storeContract } from '../helpers/store-contract.js';
import { openEtcdStore } from '../../src/agent/store/etcd/etcd-store.js';

let cluster: Promise<EtcdCluster> | null = null;

storeContract('etcd', async () => {
  cluster ??= startEtcd();
  const c = await cluster;
  const prefix = `dvm/t-${randomUUID().slice(0, 8)}`;
  return {
    open: () => openEtcdStore(c.spec(prefix), { leaseTtl: 2 }),
    dispose: async () => {},
  };
});
