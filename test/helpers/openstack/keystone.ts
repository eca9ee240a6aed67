// A real Keystone for tests: Debian's keystone on sqlite, fernet tokens with
// a short lifetime, served by the WSGI script's own wsgiref server (one
// process, no Apache). The migrated database is made once per machine and
// copied; `keystone-manage bootstrap` then makes the admin, the roles, the
// region and Keystone's own catalog entry at this run's port.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensurePackages } from '../packages.js';
import { PYTHON, freePort, startService, stopService, waitForHttp } from './common.js';

export interface Keystone {
  url: string;
  adminPassword: string;
  startMs: number;
  log(): string;
  stop(): Promise<void>;
  /** An admin-scoped call to Keystone's API. */
  admin(method: string, p: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }>;
}

const KEYSTONE_ENV = (dir: string) => ({ PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir, LANG: 'C.UTF-8', OS_KEYSTONE_CONFIG_FILES: path.join(dir, 'keystone.conf') });

function conf(dir: string, tokenSeconds: number): string {
  return [
    '[DEFAULT]',
    `log_file = ${dir}/keystone.log`,
    '[database]',
    `connection = sqlite:///${dir}/keystone.sqlite`,
    '[token]',
    'provider = fernet',
    `expiration = ${tokenSeconds}`,
    '[fernet_tokens]',
    `key_repository = ${dir}/fernet-keys`,
    '[fernet_receipts]',
    `key_repository = ${dir}/fernet-receipts`,
    '[credential]',
    `key_repository = ${dir}/credential-keys`,
    '[identity]',
    // bcrypt's fewest rounds: tests make and check passwords, not protect them.
    'password_hash_rounds = 4',
    '[cache]',
    'enabled = false',
    '',
  ].join('\n');
}

const manage = (dir: string, ...args: string[]) =>
  execFileSync('keystone-manage', ['--config-file', path.join(dir, 'keystone.conf'), ...args], { env: KEYSTONE_ENV(dir), stdio: ['ignore', 'pipe', 'pipe'] });

const pkgVersion = () => execFileSync('dpkg-query', ['-W', '-f=${Version}', 'keystone'], { encoding: 'utf8' }).trim();

const PLACEHOLDER = 'http://127.0.0.1:1/v3';

/**
 * Everything that is the same for every run, made once per machine: the
 * migrated database, the fernet and credential keys, and bootstrap's admin,
 * roles and region (its endpoints at a placeholder URL, fixed up per run).
 */
function preparedDir(): { dir: string; adminPassword: string } {
  const cached = `/var/tmp/dvm-test-keystone-${pkgVersion().replace(/[^A-Za-z0-9.+-]/g, '_')}`;
  if (!existsSync(path.join(cached, 'ready'))) {
    const dir = mkdtempSync(path.join(tmpdir(), 'dvm-keystone-prep-'));
    try {
      writeFileSync(path.join(dir, 'keystone.conf'), conf(dir, 3600));
      for (const d of ['fernet-keys', 'fernet-receipts', 'credential-keys']) mkdirSync(path.join(dir, d), { mode: 0o700 });
      manage(dir, 'db_sync');
      manage(dir, 'fernet_setup', '--keystone-user', 'root', '--keystone-group', 'root');
      manage(dir, 'credential_setup', '--keystone-user', 'root', '--keystone-group', 'root');
      const pw = `adm-${Math.random().toString(36).slice(2)}`;
      manage(dir, 'bootstrap', '--bootstrap-password', pw, '--bootstrap-admin-url', PLACEHOLDER, '--bootstrap-public-url', PLACEHOLDER, '--bootstrap-internal-url', PLACEHOLDER, '--bootstrap-region-id', 'RegionOne');
      writeFileSync(path.join(dir, 'admin-password'), pw);
      rmSync(path.join(dir, 'keystone.log'), { force: true });
      rmSync(path.join(dir, 'keystone.conf'));
      writeFileSync(path.join(dir, 'ready'), '');
      rmSync(`${cached}.${process.pid}`, { recursive: true, force: true });
      cpSync(dir, `${cached}.${process.pid}`, { recursive: true });
      try {
        renameSync(`${cached}.${process.pid}`, cached);
      } catch {
        rmSync(`${cached}.${process.pid}`, { recursive: true, force: true }); // another test made it first
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { dir: cached, adminPassword: readFileSync(path.join(cached, 'admin-password'), 'utf8') };
}

export async function startKeystone(o: { tokenSeconds: number }): Promise<Keystone> {
  ensurePackages({ keystone: '/usr/bin/keystone-wsgi-public' });
  const prepared = preparedDir();
  const t0 = Date.now();
  const dir = mkdtempSync(path.join(tmpdir(), 'dvm-keystone-'));
  cpSync(prepared.dir, dir, { recursive: true });
  writeFileSync(path.join(dir, 'keystone.conf'), conf(dir, o.tokenSeconds));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const adminPassword = prepared.adminPassword;
  // Keystone's own catalog entry, at this run's port. WAL journal: Keystone reads and writes
  // through separate connections within one request, and with sqlite's default journal an open
  // read blocks the write's commit until "database is locked".
  execFileSync(PYTHON, ['-c', 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("pragma journal_mode=wal"); c.execute("update endpoint set url=? where url=?", (sys.argv[2], sys.argv[3])); c.commit()', path.join(dir, 'keystone.sqlite'), `${url}/v3`, PLACEHOLDER]);
  const out = openSync(path.join(dir, 'stdout.log'), 'a');
  let child: ChildProcess | null = startService(PYTHON, ['/usr/bin/keystone-wsgi-public', '--host', '127.0.0.1', '--port', String(port)], KEYSTONE_ENV(dir), out);
  closeSync(out);
  const log = () => {
    const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
    return (read(path.join(dir, 'stdout.log')) + read(path.join(dir, 'keystone.log'))).split('\n').slice(-40).join('\n');
  };
  const stop = async () => {
    if (child) await stopService(child);
    child = null;
    rmSync(dir, { recursive: true, force: true });
  };
  let adminToken: { value: string; at: number } | null = null;
  const raw = async (method: string, p: string, body: unknown, token: string | null) => {
    const r = await fetch(url + p, {
      method,
      headers: { 'Content-Type': 'application/json', ...(token ? { 'X-Auth-Token': token } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let parsed: any = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* an error page: keep the text, the caller reports it */
    }
    return { status: r.status, body: parsed, headers: r.headers };
  };
  const admin = async (method: string, p: string, body?: unknown) => {
    if (!adminToken || Date.now() - adminToken.at > (o.tokenSeconds * 1000) / 3) {
      const r = await raw('POST', '/v3/auth/tokens', {
        auth: {
          identity: { methods: ['password'], password: { user: { name: 'admin', domain: { id: 'default' }, password: adminPassword } } },
          scope: { project: { name: 'admin', domain: { id: 'default' } } },
        },
      }, null);
      if (r.status !== 201) throw new Error(`keystone admin token: ${r.status} ${JSON.stringify(r.body)}`);
      adminToken = { value: r.headers.get('x-subject-token')!, at: Date.now() };
    }
    return raw(method, p, body, adminToken.value);
  };
  try {
    await waitForHttp(`${url}/v3`, 60_000, child, log);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, adminPassword, startMs: Date.now() - t0, log, stop, admin };
}

/** Makes what a cloud operator would: a project, a user with the member role in it, and service entries. */
export async function provision(ks: Keystone, o: { project: string; user: string; password: string }): Promise<{ projectId: string; userId: string }> {
  const must = async (method: string, p: string, body: unknown, want = [201]) => {
    const r = await ks.admin(method, p, body);
    if (!want.includes(r.status)) throw new Error(`keystone ${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const project = (await must('POST', '/v3/projects', { project: { name: o.project, domain_id: 'default' } })).project;
  const user = (await must('POST', '/v3/users', { user: { name: o.user, domain_id: 'default', password: o.password, default_project_id: project.id } })).user;
  const roles = (await ks.admin('GET', '/v3/roles?name=member')).body.roles;
  await must('PUT', `/v3/projects/${project.id}/users/${user.id}/roles/${roles[0].id}`, undefined, [204]);
  return { projectId: project.id, userId: user.id };
}

/** Adds a service and its public endpoint to the catalog. */
export async function addService(ks: Keystone, type: string, name: string, url: string): Promise<void> {
  const svc = await ks.admin('POST', '/v3/services', { service: { type, name } });
  if (svc.status !== 201) throw new Error(`keystone service ${type}: ${svc.status}`);
  for (const iface of ['public', 'internal']) {
    const ep = await ks.admin('POST', '/v3/endpoints', { endpoint: { service_id: svc.body.service.id, interface: iface, url, region_id: 'RegionOne' } });
    if (ep.status !== 201) throw new Error(`keystone endpoint ${type}: ${ep.status} ${JSON.stringify(ep.body)}`);
  }
}
