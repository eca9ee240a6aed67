// A real Cinder for tests: Debian's python3-cinder running its API, scheduler
// and volume service in one process (in-process message transport, sqlite),
// with the TEST-DOUBLE file volume driver. `auth_strategy` is noauth, or
// keystone against a real Keystone when one is given. The sqlite database is
// migrated once per machine and copied for each start.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensurePackages } from '../packages.js';
import { PYTHON, freePort, harnessFiles, startService, stopService, waitForHttp } from './common.js';

export interface CinderKeystone {
  /** Keystone's public URL, e.g. http://127.0.0.1:5000 */
  url: string;
  user: string;
  password: string;
  project: string;
}

export interface Cinder {
  /** http://127.0.0.1:PORT (the API's root; /v3/<project> below it). */
  url: string;
  port: number;
  dir: string;
  /** Where the file volume double keeps its sparse files. */
  volumesDir: string;
  /** ms from start to the first HTTP answer. */
  startMs: number;
  log(): string;
  stop(): Promise<void>;
}

export function ensureCinderPackages(): void {
  ensurePackages({ 'python3-cinder': '/usr/lib/python3/dist-packages/cinder/__init__.py', 'python3-keystonemiddleware': null, 'util-linux': '/usr/sbin/losetup' });
}

function conf(dir: string, port: number, ks: CinderKeystone | null): string {
  const lines = [
    '[DEFAULT]',
    // One process: the volume service's heartbeat is lost (Service.service_id is a class attribute); never call it down.
    'service_down_time = 31536000',
    `auth_strategy = ${ks ? 'keystone' : 'noauth'}`,
    'transport_url = fake:/',
    'enabled_backends = filedouble',
    'default_volume_type = __DEFAULT__',
    `state_path = ${dir}/state`,
    `lock_path = ${dir}/lock`,
    'osapi_volume_listen = 127.0.0.1',
    `osapi_volume_listen_port = ${port}`,
    'osapi_volume_workers = 1',
    `api_paste_config = ${harnessFiles}/api-paste.ini`,
    `resource_query_filters_file = ${harnessFiles}/resource_filters.json`,
    'target_helper = fake',
    'debug = false',
    `log_file = ${dir}/cinder.log`,
    '[database]',
    `connection = sqlite:///${dir}/cinder.sqlite`,
    '[filedouble]',
    'volume_driver = dvmtest.file_volume_double.FileVolumeDouble',
    'volume_backend_name = filedouble',
    `file_volume_double_dir = ${dir}/volumes`,
    'target_helper = fake',
    '[backend_defaults]',
    `file_volume_double_dir = ${dir}/volumes`,
    '[oslo_concurrency]',
    `lock_path = ${dir}/lock`,
    '[coordination]',
    `backend_url = file://${dir}/coord`,
    '[key_manager]',
    'backend = castellan.tests.unit.key_manager.mock_key_manager.MockKeyManager',
  ];
  if (ks) {
    lines.push(
      '[keystone_authtoken]',
      `www_authenticate_uri = ${ks.url}/v3`,
      `auth_url = ${ks.url}/v3`,
      'auth_type = password',
      `username = ${ks.user}`,
      `password = ${ks.password}`,
      'user_domain_id = default',
      `project_name = ${ks.project}`,
      'project_domain_id = default',
      // Validate every token with Keystone: an expired one must be refused, not served from a cache.
      'token_cache_time = -1',
      'service_token_roles_required = false',
    );
  }
  return lines.join('\n') + '\n';
}

const pkgVersion = () => execFileSync('dpkg-query', ['-W', '-f=${Version}', 'python3-cinder'], { encoding: 'utf8' }).trim();

/** The migrated empty database, made once per machine (4–18 s) and copied for every start. */
function preparedDb(): string {
  const cached = `/var/tmp/dvm-test-cinder-${pkgVersion().replace(/[^A-Za-z0-9.+-]/g, '_')}.sqlite`;
  if (existsSync(cached)) return cached;
  const dir = mkdtempSync(path.join(tmpdir(), 'dvm-cinder-db-'));
  try {
    for (const d of ['state', 'lock', 'coord', 'volumes']) mkdirSync(path.join(dir, d));
    writeFileSync(path.join(dir, 'cinder.conf'), conf(dir, 1, null));
    execFileSync(PYTHON, ['-c', 'import sys; from cinder.cmd.manage import main; sys.argv[0] = "cinder-manage"; sys.exit(main())', '--config-file', path.join(dir, 'cinder.conf'), 'db', 'sync'], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', PYTHONPATH: harnessFiles, HOME: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tmp = `${cached}.${process.pid}`;
    copyFileSync(path.join(dir, 'cinder.sqlite'), tmp);
    renameSync(tmp, cached);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return cached;
}

export async function startCinder(o: { keystone?: CinderKeystone } = {}): Promise<Cinder> {
  ensureCinderPackages();
  const db = preparedDb();
  const dir = mkdtempSync(path.join(tmpdir(), 'dvm-cinder-'));
  for (const d of ['state', 'lock', 'coord', 'volumes']) mkdirSync(path.join(dir, d));
  copyFileSync(db, path.join(dir, 'cinder.sqlite'));
  const port = await freePort();
  writeFileSync(path.join(dir, 'cinder.conf'), conf(dir, port, o.keystone ?? null));
  const out = openSync(path.join(dir, 'stdout.log'), 'a');
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', PYTHONPATH: harnessFiles, HOME: dir, LANG: 'C.UTF-8' };
  const t0 = Date.now();
  let child: ChildProcess | null = startService(PYTHON, [path.join(harnessFiles, 'cinder_one_process.py'), '--config-file', path.join(dir, 'cinder.conf')], env, out);
  closeSync(out);
  const log = () => {
    const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
    return (read(path.join(dir, 'stdout.log')) + read(path.join(dir, 'cinder.log'))).split('\n').slice(-40).join('\n');
  };
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child) await stopService(child);
    child = null;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(url + '/', 90_000, child, log);
    // The volume service registers a moment after the API answers; a create before it would go to error.
    const cinderLog = () => (existsSync(path.join(dir, 'cinder.log')) ? readFileSync(path.join(dir, 'cinder.log'), 'utf8') : '');
    await waitForVolumeService(url, o.keystone ? null : 'admin:0123456789abcdef0123456789abcdef', 60_000, log, cinderLog);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, port, dir, volumesDir: path.join(dir, 'volumes'), startMs: Date.now() - t0, log, stop };
}

/** Waits until the scheduler knows a volume service (a pool with capacity); with keystone, only for the API. */
async function waitForVolumeService(url: string, token: string | null, ms: number, log: () => string, fullLog: () => string): Promise<void> {
  if (!token) {
    // Without a token to ask with, the log says when the volume service is up.
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      if (/Driver post RPC initialization completed successfully/.test(fullLog())) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`cinder: volume service did not start:\n${log()}`);
  }
  const project = token.split(':')[1];
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const r = await fetch(`${url}/v3/${project}/scheduler-stats/get_pools?detail=true`, { headers: { 'X-Auth-Token': token, 'OpenStack-API-Version': 'volume 3.50' } }).catch(() => null);
    if (r?.ok) {
      const body = (await r.json()) as { pools?: unknown[] };
      if ((body.pools ?? []).length > 0) return;
    }
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`cinder: no volume service in the scheduler after ${ms} ms:\n${log()}`);
}
