// Builds the OpenStack backend from its settings: the cloud config (read only
// on the credentialed node), the session, the control plane and the by-id
// node plane.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import type { Backend } from '../../backend/types.js';
import { Api } from './api.js';
import { KeystoneSession, NoAuthSession, type Session } from './auth.js';
import { loadCloudConfig, secretsOf, type ConfigSources } from './config.js';
import { OpenStackControl } from './control.js';
import { ByIdNodePlane, systemRescan } from './device.js';
import { scrubEnvironment } from './env.js';
import { HttpClient, type HttpOptions } from './http.js';
import { VOLUME_ID } from './meta.js';
import { Redactor } from './redact.js';

export interface OpenStackOptions {
  spec: string;
  node: string;
  credentialed: boolean;
  cluster: string | null;
  log?: (line: string) => void;
  /** The clouds.yaml entry to use (else OS_CLOUD, else the OS_* variables). */
  cloud?: string | null;
  byIdRoot?: string | null;
  /** Deadline of one asynchronous Cinder/Nova operation, ms (default 600 s). */
  waitMs?: number;
  pollMs?: number;
  /** How long the node waits for a late by-id link, ms (default 30 s). */
  deviceWaitMs?: number;
  /** Rescan SCSI hosts and udev between looks (default: only with the real /dev/disk/by-id). */
  rescan?: boolean;
  perServer?: number | null;
  maxSize?: number | null;
  /** How often the listing looks for volumes no cluster claims, ms; null never (default 300 s). */
  unclaimedMs?: number | null;
  /** Where the config comes from (default: this process's environment and files). */
  sources?: ConfigSources;
  http?: Partial<Omit<HttpOptions, 'redactor'>>;
  /** Take the OS_* variables out of this process once read (default true). */
  scrubEnv?: boolean;
}

const defaultSources = (): ConfigSources => ({
  env: process.env,
  cwd: process.cwd(),
  home: homedir(),
  readFile: (f) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return null;
    }
  },
});

export interface OpenStackBackend extends Backend {
  /** The session, for tests that watch token renewals; null without credentials. */
  readonly session: Session | null;
  readonly http: HttpClient | null;
}

export function openOpenStack(o: OpenStackOptions): OpenStackBackend {
  const redactor = new Redactor();
  let control: OpenStackControl | null = null;
  let session: Session | null = null;
  let http: HttpClient | null = null;
  let cfgDvm: { byIdRoot: string | null; perServer: number | null; maxSize: number | null; waitMs: number | null; deviceWaitMs: number | null } | null = null;
  if (o.credentialed) {
    const cfg = loadCloudConfig(o.cloud ?? null, o.sources ?? defaultSources());
    if (o.scrubEnv ?? !o.sources) scrubEnvironment();
    for (const s of secretsOf(cfg)) redactor.add(s);
    cfgDvm = cfg.dvm;
    http = new HttpClient({ ...o.http, log: o.log, redactor });
    session = cfg.auth.type === 'none' ? new NoAuthSession(cfg, cfg.auth, redactor) : new KeystoneSession(cfg, cfg.auth, http, redactor);
    control = new OpenStackControl(
      new Api(session, http),
      {
        spec: o.spec,
        cluster: o.cluster,
        waitMs: o.waitMs ?? cfg.dvm.waitMs ?? 600_000,
        pollMs: o.pollMs ?? 1000,
        perServer: o.perServer ?? cfg.dvm.perServer,
        maxSize: o.maxSize ?? cfg.dvm.maxSize,
        unclaimedMs: o.unclaimedMs,
        log: o.log,
      },
      redactor,
    );
  }
  const byIdRoot = o.byIdRoot ?? cfgDvm?.byIdRoot ?? '/dev/disk/by-id';
  const node = new ByIdNodePlane({
    node: o.node,
    byIdRoot,
    waitMs: o.deviceWaitMs ?? cfgDvm?.deviceWaitMs ?? 30_000,
    backoffMs: 250,
    rescan: (o.rescan ?? byIdRoot === '/dev/disk/by-id') ? systemRescan : null,
    log: o.log,
  });
  return {
    control,
    node,
    volumeIdPattern: VOLUME_ID,
    session,
    http,
    async close() {},
  };
}
