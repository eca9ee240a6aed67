// Keystone v3: one token, reused until shortly before it expires, and the
// service catalog that came with it. A 401 from a service drops the token
// and the caller repeats the call once with a new one (a 401 means the
// service did nothing). `auth_type: none` talks to a standalone Cinder: its
// noauth middleware takes `user:project` as the token.
import { BackendError } from '../../backend/types.js';
import type { AuthConfig, CloudConfig } from './config.js';
import { HttpError } from './errors.js';
import type { HttpClient } from './http.js';
import type { Redactor } from './redact.js';

export type Service = 'volume' | 'compute';

export interface Session {
  /** The token to send, fetching a new one when the last is near its expiry. */
  token(): Promise<string>;
  /** The service's endpoint from the catalog (or the override), without a trailing slash. */
  endpoint(service: Service): Promise<string>;
  /** The token was refused: forget it. */
  invalidate(token: string): void;
  /** How many tokens were issued (tests watch renewals). */
  readonly issued: number;
}

const CATALOG_TYPES: Record<Service, string[]> = {
  volume: ['block-storage', 'volumev3', 'volume'],
  compute: ['compute'],
};

interface CatalogEntry {
  type: string;
  endpoints: { interface: string; region?: string | null; region_id?: string | null; url: string }[];
}

const trim = (u: string) => u.replace(/\/+$/, '');

export class KeystoneSession implements Session {
  #token: string | null = null;
  #expires = 0;
  #catalog: CatalogEntry[] = [];
  #pending: Promise<string> | null = null;
  issued = 0;

  constructor(
    private readonly cfg: CloudConfig,
    private readonly auth: Exclude<AuthConfig, { type: 'none' }>,
    private readonly http: HttpClient,
    private readonly redactor: Redactor,
    private readonly now: () => number = Date.now,
  ) {}

  async token(): Promise<string> {
    if (this.#token && this.now() < this.#expires) return this.#token;
    this.#pending ??= this.#issue().finally(() => (this.#pending = null));
    return this.#pending;
  }

  invalidate(token: string): void {
    if (this.#token === token) this.#token = null;
  }

  async endpoint(service: Service): Promise<string> {
    const o = service === 'volume' ? this.cfg.overrides.volume : this.cfg.overrides.compute;
    if (o) return trim(o);
    await this.token();
    for (const type of CATALOG_TYPES[service]) {
      const entry = this.#catalog.find((c) => c.type === type);
      const ep = entry?.endpoints.find(
        (e) => e.interface === this.cfg.interface && (!this.cfg.region || e.region_id === this.cfg.region || e.region === this.cfg.region),
      );
      if (ep) return trim(ep.url);
    }
    throw new BackendError('credentials', `openstack: catalog of cloud '${this.cfg.cloud}': no ${this.cfg.interface} ${CATALOG_TYPES[service][0]} endpoint${this.cfg.region ? ` in region '${this.cfg.region}'` : ''}`);
  }

  #body(): unknown {
    const a = this.auth;
    const user = (name: string | null, id: string | null, dom: { id?: string; name?: string }) =>
      id ? { id } : { name, domain: dom };
    if (a.type === 'application-credential') {
      const cred = a.id ? { id: a.id, secret: a.secret } : { name: a.name, secret: a.secret, user: user(a.username, a.userId, a.userDomain) };
      return { auth: { identity: { methods: ['application_credential'], application_credential: cred } } };
    }
    const project = a.project.id ? { id: a.project.id } : { name: a.project.name, domain: a.project.domain };
    return {
      auth: {
        identity: { methods: ['password'], password: { user: { ...user(a.username, a.userId, a.userDomain), password: a.password } } },
        scope: { project },
      },
    };
  }

  async #issue(): Promise<string> {
    const url = `${trim(this.auth.authUrl)}${/\/v3$/.test(trim(this.auth.authUrl)) ? '' : '/v3'}/auth/tokens`;
    const call = `keystone auth '${this.cfg.cloud}'`;
    // Issuing a token changes nothing a repeat could harm.
    const res = await this.http.request({ method: 'POST', url, call, body: this.#body(), idempotent: true }).catch((e: unknown) => {
      throw new BackendError('unavailable', e instanceof Error ? e.message : String(e));
    });
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      const what = this.auth.type === 'password' ? 'the username, password or project' : 'the application credential';
      throw new BackendError('credentials', `${call}: HTTP ${res.status}: ${what} refused`);
    }
    if (res.status !== 201) throw new BackendError('unavailable', this.http.fail(call, res).message);
    const token = res.headers.get('x-subject-token');
    const body = res.body as { token?: { expires_at?: string; issued_at?: string; catalog?: CatalogEntry[] } };
    if (!token || !body?.token) throw new BackendError('unavailable', `${call}: answer without a token`);
    this.redactor.add(token);
    const now = this.now();
    const expires = Date.parse(body.token.expires_at ?? '');
    const issuedAt = Date.parse(body.token.issued_at ?? '') || now;
    const life = Number.isFinite(expires) ? expires - issuedAt : 3_600_000;
    // Renew before expiry: a minute early, or a third of a short lifetime.
    this.#expires = now + life - Math.min(60_000, life / 3);
    this.#catalog = body.token.catalog ?? [];
    this.#token = token;
    this.issued++;
    return token;
  }
}

/** Standalone Cinder behind `auth_strategy = noauth`. */
export class NoAuthSession implements Session {
  readonly issued = 0;
  readonly #token: string;
  readonly #endpoint: string;

  constructor(
    private readonly cfg: CloudConfig,
    auth: Extract<AuthConfig, { type: 'none' }>,
    redactor: Redactor,
  ) {
    this.#endpoint = trim(auth.endpoint);
    const project = auth.projectId ?? this.#endpoint.split('/').pop() ?? '';
    this.#token = `${auth.userId ?? 'admin'}:${project}`;
    // Not a secret to noauth Cinder, but it is what goes in X-Auth-Token: never shown either.
    redactor.add(this.#token);
  }

  async token(): Promise<string> {
    return this.#token;
  }

  invalidate(): void {}

  async endpoint(service: Service): Promise<string> {
    if (service === 'volume') return trim(this.cfg.overrides.volume ?? this.#endpoint);
    if (this.cfg.overrides.compute) return trim(this.cfg.overrides.compute);
    throw new BackendError('credentials', `openstack: cloud '${this.cfg.cloud}': missing compute_endpoint_override (auth_type none has no catalog)`);
  }
}

export { HttpError };
