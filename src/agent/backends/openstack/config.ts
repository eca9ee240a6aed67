// Where the cloud's settings come from, the way OpenStack's own clients take
// them: clouds.yaml (OS_CLIENT_CONFIG_FILE, else ./clouds.yaml,
// ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml) with the cloud
// named by the spec (`openstack:NAME`) or OS_CLOUD, merged with secure.yaml
// beside it; or, with no cloud named, the OS_* variables. Pure: the
// environment and the file reader are passed in.
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BackendError } from '../../backend/types.js';

export type AuthConfig =
  | {
      type: 'password';
      authUrl: string;
      username: string | null;
      userId: string | null;
      password: string;
      userDomain: { id?: string; name?: string };
      project: { id?: string; name?: string; domain: { id?: string; name?: string } };
    }
  | {
      type: 'application-credential';
      authUrl: string;
      id: string | null;
      name: string | null;
      secret: string;
      username: string | null;
      userId: string | null;
      userDomain: { id?: string; name?: string };
    }
  | { type: 'none'; endpoint: string; userId: string | null; projectId: string | null };

export interface CloudConfig {
  /** The cloud's name in clouds.yaml, or `envvars`. */
  cloud: string;
  auth: AuthConfig;
  region: string | null;
  /** Endpoint interface in the catalog: public (default), internal, admin. */
  interface: string;
  /** `<service>_endpoint_override` from the cloud entry. */
  overrides: { volume: string | null; compute: string | null };
  /** Our own settings, under `dvm:` in the cloud entry. */
  dvm: {
    byIdRoot: string | null;
    perServer: number | null;
    maxSize: number | null;
    waitMs: number | null;
    deviceWaitMs: number | null;
  };
}

export interface ConfigSources {
  env: NodeJS.ProcessEnv;
  /** Returns null when the file does not exist. */
  readFile: (file: string) => string | null;
  cwd: string;
  home: string;
}

const missing = (cloud: string, what: string) =>
  new BackendError('credentials', `openstack: cloud '${cloud}': missing ${what}`);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : null);

function merge(a: Obj, b: Obj): Obj {
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isObj(v) && isObj(out[k]) ? merge(out[k] as Obj, v) : v;
  return out;
}

function searchPath(s: ConfigSources, base: string): string[] {
  return [path.join(s.cwd, base), path.join(s.home, '.config/openstack', base), path.join('/etc/openstack', base)];
}

function loadYaml(file: string, text: string): Obj {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new BackendError('credentials', `openstack: read '${file}': ${(e as Error).message.split('\n')[0]}`);
  }
  if (!isObj(doc) || !isObj(doc.clouds)) throw new BackendError('credentials', `openstack: read '${file}': no 'clouds' mapping`);
  return doc;
}

/** The clouds.yaml that applies, with secure.yaml merged in; null when there is none. */
function findClouds(s: ConfigSources): { file: string; clouds: Obj } | null {
  const named = s.env.OS_CLIENT_CONFIG_FILE;
  const candidates = named ? [named] : searchPath(s, 'clouds.yaml');
  for (const file of candidates) {
    const text = s.readFile(file);
    if (text === null) {
      if (named) throw new BackendError('credentials', `openstack: read '${file}' (OS_CLIENT_CONFIG_FILE): no such file`);
      continue;
    }
    let clouds = loadYaml(file, text).clouds as Obj;
    for (const sec of [path.join(path.dirname(file), 'secure.yaml'), ...searchPath(s, 'secure.yaml')]) {
      const t = s.readFile(sec);
      if (t !== null) {
        clouds = merge(clouds, loadYaml(sec, t).clouds as Obj);
        break;
      }
    }
    return { file, clouds };
  }
  return null;
}

/** The OS_* variables as a clouds.yaml entry would spell them. */
function envCloud(env: NodeJS.ProcessEnv): Obj {
  const auth: Obj = {};
  const entry: Obj = { auth };
  const a: Record<string, string> = {
    OS_AUTH_URL: 'auth_url',
    OS_USERNAME: 'username',
    OS_USER_ID: 'user_id',
    OS_PASSWORD: 'password',
    OS_PROJECT_NAME: 'project_name',
    OS_TENANT_NAME: 'project_name',
    OS_PROJECT_ID: 'project_id',
    OS_TENANT_ID: 'project_id',
    OS_USER_DOMAIN_NAME: 'user_domain_name',
    OS_USER_DOMAIN_ID: 'user_domain_id',
    OS_PROJECT_DOMAIN_NAME: 'project_domain_name',
    OS_PROJECT_DOMAIN_ID: 'project_domain_id',
    OS_DOMAIN_NAME: 'domain_name',
    OS_DOMAIN_ID: 'domain_id',
    OS_APPLICATION_CREDENTIAL_ID: 'application_credential_id',
    OS_APPLICATION_CREDENTIAL_NAME: 'application_credential_name',
    OS_APPLICATION_CREDENTIAL_SECRET: 'application_credential_secret',
    OS_ENDPOINT: 'endpoint',
  };
  for (const [k, v] of Object.entries(a)) if (env[k]) auth[v] ??= env[k];
  const e: Record<string, string> = {
    OS_AUTH_TYPE: 'auth_type',
    OS_REGION_NAME: 'region_name',
    OS_INTERFACE: 'interface',
    OS_VOLUME_ENDPOINT_OVERRIDE: 'block_storage_endpoint_override',
    OS_COMPUTE_ENDPOINT_OVERRIDE: 'compute_endpoint_override',
  };
  for (const [k, v] of Object.entries(e)) if (env[k]) entry[v] = env[k];
  return entry;
}

const hasEnvCloud = (env: NodeJS.ProcessEnv) => Boolean(env.OS_AUTH_URL || env.OS_ENDPOINT || env.OS_AUTH_TYPE);

/** Resolve the cloud to use. `name` is the spec's `openstack:NAME`, which wins over OS_CLOUD. */
export function loadCloudConfig(name: string | null, s: ConfigSources): CloudConfig {
  const wanted = name ?? str(s.env.OS_CLOUD);
  let cloud: string;
  let entry: Obj;
  const found = findClouds(s);
  if (wanted) {
    if (!found) throw new BackendError('credentials', `openstack: cloud '${wanted}': no clouds.yaml found (set OS_CLIENT_CONFIG_FILE)`);
    const e = found.clouds[wanted];
    if (!isObj(e)) throw new BackendError('credentials', `openstack: cloud '${wanted}': not in '${found.file}'`);
    cloud = wanted;
    entry = e;
  } else if (hasEnvCloud(s.env)) {
    cloud = 'envvars';
    entry = envCloud(s.env);
  } else if (found && Object.keys(found.clouds).length === 1) {
    cloud = Object.keys(found.clouds)[0]!;
    entry = found.clouds[cloud] as Obj;
  } else {
    throw new BackendError('credentials', 'openstack: no cloud configured: set OS_CLOUD (clouds.yaml) or OS_AUTH_URL and the other OS_* variables');
  }
  const authObj = isObj(entry.auth) ? entry.auth : {};
  const dvm = isObj(entry.dvm) ? entry.dvm : {};
  return {
    cloud,
    auth: parseAuth(cloud, str(entry.auth_type) ?? 'password', authObj),
    region: str(entry.region_name),
    interface: str(entry.interface) ?? 'public',
    overrides: {
      volume: str(entry.block_storage_endpoint_override) ?? str(entry.volumev3_endpoint_override) ?? str(entry.volume_endpoint_override),
      compute: str(entry.compute_endpoint_override),
    },
    dvm: {
      byIdRoot: str(dvm.by_id_root),
      perServer: num(dvm.max_volumes_per_server),
      maxSize: num(dvm.max_size),
      waitMs: num(dvm.wait_ms),
      deviceWaitMs: num(dvm.device_wait_ms),
    },
  };
}

function parseAuth(cloud: string, type: string, a: Obj): AuthConfig {
  const t = type.toLowerCase();
  if (t === 'none' || t === 'noauth') {
    const endpoint = str(a.endpoint);
    if (!endpoint) throw missing(cloud, 'auth.endpoint (the volume endpoint, for auth_type none)');
    return { type: 'none', endpoint, userId: str(a.user_id), projectId: str(a.project_id) };
  }
  const authUrl = str(a.auth_url);
  if (!authUrl) throw missing(cloud, 'auth.auth_url (OS_AUTH_URL)');
  const userDomain = domain(a, 'user_domain');
  if (t === 'v3applicationcredential' || t === 'application_credential') {
    const secret = str(a.application_credential_secret);
    const id = str(a.application_credential_id);
    const name = str(a.application_credential_name);
    if (!id && !name) throw missing(cloud, 'auth.application_credential_id (OS_APPLICATION_CREDENTIAL_ID)');
    if (!secret) throw missing(cloud, 'auth.application_credential_secret (OS_APPLICATION_CREDENTIAL_SECRET)');
    if (!id && !str(a.username) && !str(a.user_id)) throw missing(cloud, 'auth.username (an application credential given by name needs its user)');
    return { type: 'application-credential', authUrl, id, name, secret, username: str(a.username), userId: str(a.user_id), userDomain };
  }
  if (t !== 'password' && t !== 'v3password') throw new BackendError('credentials', `openstack: cloud '${cloud}': auth_type '${type}' is not supported (password, v3applicationcredential, none)`);
  const username = str(a.username);
  const userId = str(a.user_id);
  if (!username && !userId) throw missing(cloud, 'auth.username (OS_USERNAME)');
  const password = str(a.password);
  if (!password) throw missing(cloud, 'auth.password (OS_PASSWORD)');
  const projectId = str(a.project_id);
  const projectName = str(a.project_name);
  if (!projectId && !projectName) throw missing(cloud, 'auth.project_name or auth.project_id (OS_PROJECT_NAME)');
  const project = { ...(projectId ? { id: projectId } : { name: projectName! }), domain: domain(a, 'project_domain') };
  if (!username && !userId) throw missing(cloud, 'auth.username');
  if (username && !userDomain.id && !userDomain.name) userDomain.id = 'default';
  if (!projectId && !project.domain.id && !project.domain.name) project.domain.id = 'default';
  return { type: 'password', authUrl, username, userId, password, userDomain, project };
}

/** `user_domain_id` / `user_domain_name`, falling back to `domain_id` / `domain_name`. */
function domain(a: Obj, prefix: string): { id?: string; name?: string } {
  const id = str(a[`${prefix}_id`]) ?? str(a.domain_id);
  const name = str(a[`${prefix}_name`]) ?? str(a.domain_name);
  return id ? { id } : name ? { name } : {};
}

/** Every value of a cloud's config that must never be shown or handed on. */
export function secretsOf(c: CloudConfig): string[] {
  if (c.auth.type === 'password') return [c.auth.password];
  if (c.auth.type === 'application-credential') return [c.auth.secret];
  return [];
}
