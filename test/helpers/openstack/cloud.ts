// One test cloud per test file: the real Cinder (noauth), the fault proxy in
// front of it, the Nova double with two servers, a by-id directory per
// server, and backends made from a clouds.yaml the way an operator would
// write one.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openOpenStack, type OpenStackBackend, type OpenStackOptions } from '../../../src/agent/backends/openstack/open.js';
import { startCinder, type Cinder } from './cinder.js';
import { FaultProxy } from './fault-proxy.js';
import { NovaDouble } from './nova-double.js';

/** Cinder's default project_id_regex takes only hex or UUID project ids. */
export const PROJECT = '0123456789abcdef0123456789abcdef';
export const CLUSTER = '5e0f3c1a-7d2b-4c1e-9a8f-0b1c2d3e4f50';

export interface TestCloud {
  cinder: Cinder;
  proxy: FaultProxy;
  nova: NovaDouble;
  dir: string;
  byId(node: string): string;
  /** A credentialed backend acting as `node`, configured through clouds.yaml. */
  backend(node: string, o?: Partial<OpenStackOptions>): OpenStackBackend;
  /** Cinder's own view (no proxy), for counting what really exists. */
  cinderGet(p: string): Promise<any>;
  stop(): Promise<void>;
}

export async function startTestCloud(o: { servers?: string[] } = {}): Promise<TestCloud> {
  const servers = o.servers ?? ['node-a', 'node-b'];
  const cinder = await startCinder();
  const dir = mkdtempSync(path.join(tmpdir(), 'dvm-os-cloud-'));
  const byId = (node: string) => path.join(dir, 'by-id', node);
  const proxy = new FaultProxy(cinder.url);
  await proxy.start();
  const token = `admin:${PROJECT}`;
  const nova = new NovaDouble({ cinder: `${cinder.url}/v3/${PROJECT}`, token: async () => token, byIdRoot: byId, volumesDir: cinder.volumesDir, servers });
  await nova.start();
  for (const n of servers) mkdirSync(byId(n), { recursive: true });
  const cloudsYaml = path.join(dir, 'clouds.yaml');
  writeFileSync(
    cloudsYaml,
    [
      'clouds:',
      '  standalone:',
      '    auth_type: none',
      '    auth:',
      `      endpoint: ${proxy.url}/v3/${PROJECT}`,
      `    compute_endpoint_override: ${nova.url}`,
      '',
    ].join('\n'),
  );
  const backend = (node: string, o: Partial<OpenStackOptions> = {}) =>
    openOpenStack({
      spec: 'openstack',
      node,
      credentialed: true,
      cluster: CLUSTER,
      byIdRoot: byId(node),
      waitMs: 30_000,
      pollMs: 150,
      deviceWaitMs: 3000,
      sources: { env: { OS_CLIENT_CONFIG_FILE: cloudsYaml, OS_CLOUD: 'standalone' }, cwd: dir, home: dir, readFile: readOrNull },
      http: { backoffMs: 50 },
      ...o,
    });
  const cinderGet = async (p: string) => {
    const r = await fetch(`${cinder.url}/v3/${PROJECT}${p}`, { headers: { 'X-Auth-Token': token, 'OpenStack-API-Version': 'volume 3.50' } });
    return r.json();
  };
  return {
    cinder,
    proxy,
    nova,
    dir,
    byId,
    backend,
    cinderGet,
    async stop() {
      await nova.stop().catch(() => undefined);
      await proxy.stop().catch(() => undefined);
      await cinder.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

import { readFileSync } from 'node:fs';
function readOrNull(f: string): string | null {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return null;
  }
}
