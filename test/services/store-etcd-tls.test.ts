// Who may change what: an etcds:// store with client certificates and etcd's
// authentication, one role per kind of client limited to the cluster's
// prefix. The operator writes the desired state; a node's agent reads the
// cluster and writes only its own node keys and statuses; the credentialed
// node also the listing and the election; a certificate from another CA, no
// certificate, or a plain connection is refused; another prefix is refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { StoreUnavailable } from '../../src/agent/store/types.js';
import { openEtcdStore } from '../../src/agent/store/etcd/etcd-store.js';
import { ToolError } from '../../src/lib/errors.js';
import { EXIT } from '../../src/lib/exit-codes.js';
import { enableAuth, startEtcd } from '../helpers/etcd.js';
import { desiredEntry, fenceDoc, listingDoc, nodeState } from '../helpers/store-contract.js';
import { rejects } from '../helpers/rejects.js';

const denied = (e: unknown) => e instanceof StoreUnavailable && /permission denied/.test((e as Error).message);

test('etcds://: roles limited to the prefix, a node writes only its own keys, a wrong certificate is refused', async () => {
  const etcd = await startEtcd({ tls: true, clients: ['op', 'n1', 'n3'] });
  const opened: { close(): Promise<void> }[] = [];
  try {
    await enableAuth(etcd, '/dvm/c1', { op: 'operator', n1: 'credentialed:n1', n3: 'node:n3' });
    const pki = etcd.pki!;
    const as = async (who: string, prefix = 'dvm/c1') => {
      const s = await openEtcdStore(etcd.spec(prefix), { cacert: pki.ca, cert: pki.clients[who].cert, key: pki.clients[who].key, leaseTtl: 2 });
      opened.push(s);
      return s;
    };
    const op = await as('op');
    const n1 = await as('n1');
    const n3 = await as('n3');

    // The operator makes the cluster and a dataset; every node reads it.
    const id = randomUUID();
    await op.updateDesired((d) => ({ ...d, datasets: { [id]: desiredEntry('alpha', { node: 'n3' }) } }));
    assert.is((await n3.readDesired()).value.datasets[id].name, 'alpha');
    assert.is((await n1.readDesired()).value.datasets[id].node, 'n3');

    // A node may not change the desired state, another node's key, the listing or the election.
    await rejects(n3.updateDesired((d) => ({ ...d, datasets: {} })), denied);
    await rejects(n3.writeNodeState(nodeState('n1'), { credentialed: true }), denied);
    await rejects(n3.writeListing(listingDoc()), denied);
    await rejects(n3.campaign('n3'), denied);
    // Nor fence a node or lift a fence, its own included: only an operator does.
    await rejects(n3.fenceNode(fenceDoc('n9')), denied);
    await op.fenceNode(fenceDoc('n9'));
    await rejects(n3.unfenceNode('n9'), denied);
    assert.equal(Object.keys(await n3.readFences()), ['n9'], 'a node reads the fences');
    assert.ok(await op.unfenceNode('n9'));
    assert.is(Object.keys((await op.readDesired()).value.datasets).length, 1, 'nothing changed');
    // ...but writes its own node key and statuses.
    await n3.writeNodeState(nodeState('n3'), { credentialed: false });
    await n3.updateStatus(id, () => ({ format: 'dvm.dataset-status/1', id, phase: 'pending', reason: 'waiting', error: null, since: new Date().toISOString(), by: 'n3', observed: null, markers: {}, formatted: null }));
    // The credentialed node leads, lists, and cannot write the desired state either.
    const l = await n1.campaign('n1');
    await l.elected;
    await n1.writeNodeState(nodeState('n1'), { credentialed: true });
    await n1.writeListing(listingDoc());
    await rejects(n1.updateDesired((d) => ({ ...d, datasets: {} })), denied);
    const nodes = await op.readNodes();
    assert.ok(nodes.n1.alive && nodes.n1.leader && nodes.n3.alive && !nodes.n3.leader);

    // The operator's own role ends at the prefix.
    const other = await as('op', 'dvm/c2');
    await rejects(other.readDesired(), denied);

    // A certificate from another CA (CN root!), no certificate, or plain: refused.
    const rogue = await openEtcdStore(etcd.spec('dvm/c1'), { cacert: pki.ca, cert: pki.rogue.cert, key: pki.rogue.key, callTimeoutMs: 2000 });
    opened.push(rogue);
    await rejects(rogue.readDesired(), (e: unknown) => e instanceof StoreUnavailable && /TLS refused|unreachable/.test((e as Error).message));
    await rejects(openEtcdStore(etcd.spec('dvm/c1'), { cacert: pki.ca }), (e: unknown) => e instanceof ToolError && e.exitCode === EXIT.USAGE);
    const plain = await openEtcdStore(etcd.spec('dvm/c1').replace('etcds://', 'etcd://'), { callTimeoutMs: 2000 });
    opened.push(plain);
    await rejects(plain.readDesired(), (e: unknown) => e instanceof StoreUnavailable);

    // etcdctl's variables serve as well as the options.
    const viaEnv = await openEtcdStore(etcd.spec('dvm/c1'), { env: { ETCDCTL_CACERT: pki.ca, ETCDCTL_CERT: pki.clients.n3.cert, ETCDCTL_KEY: pki.clients.n3.key } });
    opened.push(viaEnv);
    assert.is((await viaEnv.readDesired()).value.datasets[id].name, 'alpha');

    // A private key others can read is refused before any connection.
    const loose = path.join(pki.dir, 'loose-key.pem');
    copyFileSync(pki.clients.n3.key, loose);
    chmodSync(loose, 0o644);
    await rejects(openEtcdStore(etcd.spec('dvm/c1'), { cacert: pki.ca, cert: pki.clients.n3.cert, key: loose }), (e: unknown) => e instanceof ToolError && /readable by others/.test((e as Error).message));
  } finally {
    for (const s of opened) await s.close().catch(() => {});
    await etcd.stop();
  }
});

test.run();
