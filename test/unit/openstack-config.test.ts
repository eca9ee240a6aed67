// The OpenStack backend's pure parts: where the cloud config comes from
// (clouds.yaml, secure.yaml, OS_*), the one-line credential errors, secret
// redaction, the child environment, paging markers and the by-id names.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isBackendError } from '../../src/agent/backend/types.js';
import { loadCloudConfig, type ConfigSources } from '../../src/agent/backends/openstack/config.js';
import { nextMarker } from '../../src/agent/backends/openstack/control.js';
import { byIdNames } from '../../src/agent/backends/openstack/device.js';
import { childEnv } from '../../src/agent/backends/openstack/env.js';
import { Redactor } from '../../src/agent/backends/openstack/redact.js';

const src = (env: NodeJS.ProcessEnv, files: Record<string, string> = {}): ConfigSources => ({ env, cwd: '/w', home: '/h', readFile: (f) => files[f] ?? null });

function credErr(f: () => unknown, pattern: RegExp): void {
  try {
    f();
  } catch (e) {
    assert.ok(isBackendError(e, 'credentials'), String(e));
    assert.match((e as Error).message, pattern);
    assert.not.match((e as Error).message, /\n/, 'one line');
    return;
  }
  assert.unreachable('expected a credentials error');
}

const CLOUDS = `
clouds:
  prod:
    auth:
      auth_url: https://keystone.example:5000/v3
      username: dvm
      project_name: storage
      user_domain_name: Default
    region_name: RegionTwo
    interface: internal
    dvm:
      by_id_root: /srv/by-id
      max_volumes_per_server: 26
  lab:
    auth_type: none
    auth:
      endpoint: http://127.0.0.1:8776/v3/0123456789abcdef0123456789abcdef
    compute_endpoint_override: http://127.0.0.1:8774/v2.1
`;
const SECURE = `
clouds:
  prod:
    auth:
      password: s3cret-pass
`;

test('clouds.yaml from OS_CLIENT_CONFIG_FILE with OS_CLOUD, secure.yaml merged beside it', () => {
  const c = loadCloudConfig(null, src({ OS_CLIENT_CONFIG_FILE: '/etc/x/clouds.yaml', OS_CLOUD: 'prod' }, { '/etc/x/clouds.yaml': CLOUDS, '/etc/x/secure.yaml': SECURE }));
  assert.is(c.cloud, 'prod');
  assert.is(c.auth.type, 'password');
  if (c.auth.type !== 'password') return;
  assert.is(c.auth.password, 's3cret-pass');
  assert.equal(c.auth.userDomain, { name: 'Default' });
  assert.equal(c.auth.project, { name: 'storage', domain: { id: 'default' } }, 'no project domain given: default');
  assert.is(c.region, 'RegionTwo');
  assert.is(c.interface, 'internal');
  assert.is(c.dvm.byIdRoot, '/srv/by-id');
  assert.is(c.dvm.perServer, 26);
});

test('the usual search path; the spec names the cloud over OS_CLOUD; noauth with an endpoint', () => {
  const files = { '/h/.config/openstack/clouds.yaml': CLOUDS };
  const c = loadCloudConfig('lab', src({ OS_CLOUD: 'prod' }, files));
  assert.is(c.auth.type, 'none');
  assert.is(c.overrides.compute, 'http://127.0.0.1:8774/v2.1');
  const first = loadCloudConfig(null, src({ OS_CLOUD: 'lab' }, { '/w/clouds.yaml': CLOUDS.replace('lab:', 'lab2:\n    auth_type: none\n    auth: {endpoint: http://x/v3/p}\n  lab:'), ...files }));
  assert.is(first.cloud, 'lab', './clouds.yaml comes first');
  credErr(() => loadCloudConfig('nope', src({}, files)), /cloud 'nope': not in '\/h\/.config\/openstack\/clouds.yaml'/);
  credErr(() => loadCloudConfig('prod', src({}, files)), /cloud 'prod': missing auth.password \(OS_PASSWORD\)/);
  credErr(() => loadCloudConfig(null, src({ OS_CLIENT_CONFIG_FILE: '/none.yaml', OS_CLOUD: 'x' })), /'\/none.yaml' \(OS_CLIENT_CONFIG_FILE\): no such file/);
  credErr(() => loadCloudConfig(null, src({ OS_CLIENT_CONFIG_FILE: '/bad.yaml', OS_CLOUD: 'x' }, { '/bad.yaml': 'clouds: [1, 2' })), /read '\/bad.yaml'/);
  credErr(() => loadCloudConfig(null, src({})), /no cloud configured: set OS_CLOUD/);
});

test('OS_* variables: password and application credential, each missing piece named', () => {
  const base = { OS_AUTH_URL: 'http://127.0.0.1:5000/v3', OS_USERNAME: 'u', OS_PROJECT_NAME: 'p' };
  credErr(() => loadCloudConfig(null, src(base)), /missing auth.password \(OS_PASSWORD\)/);
  credErr(() => loadCloudConfig(null, src({ OS_AUTH_URL: 'http://k/v3', OS_PASSWORD: 'x' })), /missing auth.username \(OS_USERNAME\)/);
  credErr(() => loadCloudConfig(null, src({ ...base, OS_PROJECT_NAME: '', OS_PASSWORD: 'x' })), /project_name or auth.project_id/);
  credErr(() => loadCloudConfig(null, src({ OS_AUTH_TYPE: 'password', OS_USERNAME: 'u' })), /missing auth.auth_url \(OS_AUTH_URL\)/);
  const c = loadCloudConfig(null, src({ ...base, OS_PASSWORD: 'pw' }));
  assert.is(c.cloud, 'envvars');
  assert.equal(c.auth.type === 'password' && c.auth.userDomain, { id: 'default' });
  const ac = { OS_AUTH_TYPE: 'v3applicationcredential', OS_AUTH_URL: 'http://k/v3', OS_APPLICATION_CREDENTIAL_ID: 'abc' };
  credErr(() => loadCloudConfig(null, src(ac)), /missing auth.application_credential_secret \(OS_APPLICATION_CREDENTIAL_SECRET\)/);
  const a = loadCloudConfig(null, src({ ...ac, OS_APPLICATION_CREDENTIAL_SECRET: 'sek' }));
  assert.is(a.auth.type, 'application-credential');
  credErr(() => loadCloudConfig(null, src({ ...ac, OS_AUTH_TYPE: 'token' })), /auth_type 'token' is not supported/);
});

test('secrets and tokens are redacted from messages', () => {
  const r = new Redactor();
  r.add('s3cret-pass');
  r.add('gAAAAABtoken123');
  const msg = r.redact('keystone said: bad password s3cret-pass for token gAAAAABtoken123; X-Auth-Token: other-token-xyz {"password": "p4ss"}');
  assert.not.match(msg, /s3cret-pass|gAAAAABtoken123|other-token-xyz|p4ss/);
  assert.match(msg, /\*\*\*/);
});

test('child processes get no OS_* variables', () => {
  const env = childEnv({ PATH: '/bin', OS_PASSWORD: 'x', OS_CLOUD: 'c', OS_APPLICATION_CREDENTIAL_SECRET: 'y', HOME: '/root' });
  assert.equal(env, { PATH: '/bin', HOME: '/root' });
});

test('paging markers come from the next link and are never followed as URLs', () => {
  assert.is(nextMarker([{ rel: 'next', href: 'http://elsewhere.example/v3/p/volumes/detail?limit=2&marker=abc-1' }]), 'abc-1');
  assert.is(nextMarker([{ rel: 'self', href: 'http://x/?marker=a' }]), null);
  assert.is(nextMarker(undefined), null);
});

test('by-id names: virtio truncated to 20, full virtio, QEMU SCSI, wwn', () => {
  const id = '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b';
  const n = byIdNames(id);
  assert.is(n[0], 'virtio-3f2a1b4c-5d6e-4f70-8');
  assert.ok(n.includes(`virtio-${id}`));
  assert.ok(n.includes(`scsi-0QEMU_QEMU_HARDDISK_${id}`));
  assert.ok(n.includes('wwn-0x3f2a1b4c5d6e4f708a9b0c1d2e3f4a5b'));
});

test.run();
