// The OpenStack backend through a real Keystone (Debian's keystone on
// sqlite, fernet tokens living 45 s) in front of a real Cinder that checks
// every token with it (keystonemiddleware, no token cache): password and
// application-credential auth through the catalog, a token expiring in the
// middle of a run renewed without a failed call, wrong credentials as one
// line naming what was refused, and credentials kept out of messages and
// child processes. The Nova double and the fault proxy are test doubles.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isBackendError, type BackendError } from '../../src/agent/backend/types.js';
import { GiB } from '../../src/agent/backends/openstack/control.js';
import { openOpenStack, type OpenStackOptions } from '../../src/agent/backends/openstack/open.js';
import { startCinder, type Cinder } from '../helpers/openstack/cinder.js';
import { sleep } from '../helpers/openstack/common.js';
import { FaultProxy } from '../helpers/openstack/fault-proxy.js';
import { addService, provision, startKeystone, type Keystone } from '../helpers/openstack/keystone.js';
import { NovaDouble } from '../helpers/openstack/nova-double.js';

// Short, yet long enough for a request to reach Keystone through Cinder on a loaded machine.
const TOKEN_SECONDS = 45;
const CLUSTER = randomUUID();
const PASSWORD = `pw-${randomUUID()}`;
let ks: Keystone;
let cinder: Cinder;
let proxy: FaultProxy;
let nova: NovaDouble;
let dir: string;
let projectId: string;
let userId: string;
const t0 = Date.now();

async function tokenFor(user: string, password: string, project: string): Promise<string> {
  const r = await fetch(`${ks.url}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      auth: { identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password } } }, scope: { project: { id: project } } },
    }),
  });
  if (r.status !== 201) throw new Error(`token for ${user}: ${r.status}`);
  return r.headers.get('x-subject-token')!;
}

function cached(get: () => Promise<string>): () => Promise<string> {
  let t: { v: string; at: number } | null = null;
  return async () => {
    if (!t || Date.now() - t.at > (TOKEN_SECONDS * 1000) / 3) t = { v: await get(), at: Date.now() };
    return t.v;
  };
}

const readOrNull = (f: string) => {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return null;
  }
};

// Set up once, on first use: an error here then fails each test loudly (uvu's before hook would hide it).
let ready: Promise<void> | null = null;
const setup = () => (ready ??= start());

async function start(): Promise<void> {
  ks = await startKeystone({ tokenSeconds: TOKEN_SECONDS });
  console.log(`keystone answered after ${ks.startMs} ms`);
  ({ projectId, userId } = await provision(ks, { project: 'dvm', user: 'dvm', password: PASSWORD }));
  // Cinder's own service user, which keystonemiddleware checks tokens with.
  const svc = await provision(ks, { project: 'service', user: 'cinder', password: 'cinder-service-pw' });
  const admin = (await ks.admin('GET', '/v3/roles?name=admin')).body.roles[0].id;
  await ks.admin('PUT', `/v3/projects/${svc.projectId}/users/${svc.userId}/roles/${admin}`);
  // The Nova double's attachments carry no instance (see cinder.ts), only the connector's host,
  // and Cinder shows that host to admins only: the test user is admin in its project so the
  // backend can tell which node a volume is attached to. A real Nova's attachments name the server.
  await ks.admin('PUT', `/v3/projects/${projectId}/users/${userId}/roles/${admin}`);
  // The Nova double acts in the user's project, as Nova does with the user's token.
  const novaUser = await ks.admin('POST', '/v3/users', { user: { name: 'nova-double', domain_id: 'default', password: 'nova-double-pw' } });
  const member = (await ks.admin('GET', '/v3/roles?name=member')).body.roles[0].id;
  await ks.admin('PUT', `/v3/projects/${projectId}/users/${novaUser.body.user.id}/roles/${member}`);
  cinder = await startCinder({ keystone: { url: ks.url, user: 'cinder', password: 'cinder-service-pw', project: 'service' } });
  console.log(`cinder answered after ${cinder.startMs} ms`);
  proxy = new FaultProxy(cinder.url);
  await proxy.start();
  dir = mkdtempSync(path.join(tmpdir(), 'dvm-os-ks-'));
  nova = new NovaDouble({
    cinder: `${cinder.url}/v3/${projectId}`,
    token: cached(() => tokenFor('nova-double', 'nova-double-pw', projectId)),
    byIdRoot: (n) => path.join(dir, 'by-id', n),
    volumesDir: cinder.volumesDir,
    servers: ['node-a'],
  });
  await nova.start();
  mkdirSync(path.join(dir, 'by-id', 'node-a'), { recursive: true });
  await addService(ks, 'block-storage', 'cinderv3', `${proxy.url}/v3/$(project_id)s`);
  await addService(ks, 'compute', 'nova', nova.url);
}

test.after(async () => {
  await nova?.stop().catch(() => undefined);
  await proxy?.stop().catch(() => undefined);
  await cinder?.stop();
  await ks?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  console.log(`openstack-keystone: ${Math.round((Date.now() - t0) / 1000)} s in all`);
});

function cloudsYaml(auth: Record<string, string>, authType = 'password'): string {
  const file = path.join(dir, `clouds-${randomUUID()}.yaml`);
  const lines = ['clouds:', '  test:', `    auth_type: ${authType}`, '    region_name: RegionOne', '    auth:', ...Object.entries(auth).map(([k, v]) => `      ${k}: "${v}"`)];
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

const backend = (env: NodeJS.ProcessEnv, o: Partial<OpenStackOptions> = {}) =>
  openOpenStack({
    spec: 'openstack',
    node: 'node-a',
    credentialed: true,
    cluster: CLUSTER,
    byIdRoot: path.join(dir, 'by-id', 'node-a'),
    waitMs: 60_000,
    pollMs: 200,
    deviceWaitMs: 5000,
    sources: { env, cwd: dir, home: dir, readFile: readOrNull },
    ...o,
  });

const passwordEnv = () => ({
  OS_CLIENT_CONFIG_FILE: cloudsYaml({ auth_url: `${ks.url}/v3`, username: 'dvm', password: PASSWORD, project_name: 'dvm', user_domain_id: 'default', project_domain_id: 'default' }),
  OS_CLOUD: 'test',
});

async function rejects(p: Promise<unknown>, kind: BackendError['kind']): Promise<BackendError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isBackendError(e, kind), `expected ${kind}: ${(e as Error).message}`);
    return e as BackendError;
  }
  assert.unreachable(`expected ${kind}`);
  throw new Error('unreachable');
}

test('password auth through the catalog; the token expires mid-run and is renewed without a failed call', async () => {
  await setup();
  const b = backend(passwordEnv());
  const v = await b.control!.create({ cluster: CLUSTER, dataset: randomUUID(), name: 'dvm-ks', size: GiB, metadata: {} });
  const firstToken = await b.session!.token();
  const issuedBefore = b.session!.issued;
  assert.ok(issuedBefore >= 1);
  const att = await b.control!.attach(v.id, 'node-a');
  assert.ok(await b.node.findDevice(att), 'device found after an attach through the catalog');
  // Work on through the token's expiry.
  const until = Date.now() + (TOKEN_SECONDS + 3) * 1000;
  let calls = 0;
  while (Date.now() < until) {
    assert.ok((await b.control!.list()).some((x) => x.id === v.id));
    calls++;
    await sleep(1000);
  }
  await b.control!.resize(v.id, 2 * GiB);
  await b.control!.detach(v.id);
  await b.control!.destroy(v.id);
  assert.ok(b.session!.issued > issuedBefore, `a new token was fetched (${b.session!.issued} issued over ${calls} listings)`);
  // The renewal was needed: Cinder now refuses the first token.
  const r = await fetch(`${cinder.url}/v3/${projectId}/volumes`, { headers: { 'X-Auth-Token': firstToken } });
  assert.is(r.status, 401, 'the first token has expired and Cinder checks it');
});

test('application credential auth from OS_* variables', async () => {
  await setup();
  const user = await tokenFor('dvm', PASSWORD, projectId);
  const r = await fetch(`${ks.url}/v3/users/${userId}/application_credentials`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Auth-Token': user },
    body: JSON.stringify({ application_credential: { name: `dvm-${randomUUID().slice(0, 8)}` } }),
  });
  assert.is(r.status, 201);
  const cred = ((await r.json()) as { application_credential: { id: string; secret: string } }).application_credential;
  const b = backend({ OS_AUTH_TYPE: 'v3applicationcredential', OS_AUTH_URL: `${ks.url}/v3`, OS_APPLICATION_CREDENTIAL_ID: cred.id, OS_APPLICATION_CREDENTIAL_SECRET: cred.secret, OS_REGION_NAME: 'RegionOne' });
  const v = await b.control!.create({ cluster: CLUSTER, dataset: randomUUID(), name: 'dvm-appcred', size: GiB, metadata: {} });
  assert.ok((await b.control!.list()).some((x) => x.id === v.id));
  await b.control!.destroy(v.id);
  // A wrong secret: one line, the kind that exits 4, no secret in it.
  const bad = backend({ OS_AUTH_TYPE: 'v3applicationcredential', OS_AUTH_URL: `${ks.url}/v3`, OS_APPLICATION_CREDENTIAL_ID: cred.id, OS_APPLICATION_CREDENTIAL_SECRET: 'not-the-secret' });
  const e = await rejects(bad.control!.list(), 'credentials');
  assert.match(e.message, /application credential refused/);
  assert.not.match(e.message, /not-the-secret/);
});

test('a wrong password is one line naming what was refused; the password never appears', async () => {
  await setup();
  const env = passwordEnv();
  const file = env.OS_CLIENT_CONFIG_FILE;
  writeFileSync(file, readFileSync(file, 'utf8').replace(PASSWORD, 'wrong-password-123'));
  const e = await rejects(backend(env).control!.list(), 'credentials');
  assert.match(e.message, /^keystone auth 'test': HTTP 401: the username, password or project refused$/);
  assert.not.match(e.message, /wrong-password-123/);
});

test('tokens and passwords are redacted from error messages, and never reach a child process', async () => {
  await setup();
  const b = backend(passwordEnv());
  await b.control!.list();
  const token = await b.session!.token();
  proxy.inject('GET', /\/volumes\/detail$/, 'echo-500', 4);
  const e = await rejects(b.control!.list(), 'unavailable');
  assert.match(e.message, /HTTP 500/);
  assert.not.ok(e.message.includes(token), `token redacted: ${e.message}`);
  assert.match(e.message, /\*\*\*/);
  proxy.clear();

  // Configured from the process environment: the OS_* variables leave the process once read.
  const saved = { ...process.env };
  try {
    Object.assign(process.env, {
      OS_AUTH_URL: `${ks.url}/v3`,
      OS_USERNAME: 'dvm',
      OS_PASSWORD: PASSWORD,
      OS_PROJECT_NAME: 'dvm',
      OS_USER_DOMAIN_ID: 'default',
      OS_PROJECT_DOMAIN_ID: 'default',
    });
    const fromEnv = openOpenStack({ spec: 'openstack', node: 'node-a', credentialed: true, cluster: CLUSTER, byIdRoot: path.join(dir, 'by-id', 'node-a') });
    assert.ok(Array.isArray(await fromEnv.control!.list()));
    const childSees = execFileSync('env', { encoding: 'utf8' });
    assert.not.match(childSees, /^OS_/m, 'no OS_* variable in a child');
    assert.not.ok(childSees.includes(PASSWORD), 'the password is in no child environment');
    assert.not.ok(childSees.includes(await fromEnv.session!.token()), 'nor the token');
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});

test.run();
