// Throwaway etcd members for the services tier: Debian's etcd-server on
// 127.0.0.1 with free ports and their own data directories, optionally over
// TLS with client certificates (a CA made here with openssl) and etcd's
// authentication with a role limited to one prefix. Stopped by `stop()`,
// which callers run in `finally`.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { ensurePackages } from './packages.js';

const ETCD = '/usr/bin/etcd';

export function ensureEtcd(): void {
  ensurePackages({ 'etcd-server': ETCD, openssl: '/usr/bin/openssl' });
}

/** A port nothing listens on now (the kernel's pick), for a member to bind next. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Per client name (the certificate's CN, which etcd takes as the user): cert and key files. */
  clients: Record<string, { cert: string; key: string }>;
  /** A client certificate from another CA, CN 'root': must be refused. */
  rogue: { ca: string; cert: string; key: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): { cert: string; key: string } {
  const key = path.join(dir, `${name}-key.pem`);
  const cert = path.join(dir, `${name}.pem`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`], dir);
  chmodSync(key, 0o600);
  return { cert, key };
}

function issue(dir: string, ca: { cert: string; key: string }, name: string, cn: string, ext: string): { cert: string; key: string } {
  const key = path.join(dir, `${name}-key.pem`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.pem`);
  const extFile = path.join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', extFile], dir);
  chmodSync(key, 0o600);
  return { cert, key };
}

/** A CA, a server certificate for 127.0.0.1, and one client certificate per name. */
export function makePki(clients: string[]): Pki {
  const dir = mkdtempSync(path.join(tmpdir(), 'dvm-pki-'));
  const ca = makeCa(dir, 'ca');
  const server = issue(dir, ca, 'server', 'etcd', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  const out: Pki['clients'] = {};
  for (const c of clients) out[c] = issue(dir, ca, `client-${c}`, c, 'extendedKeyUsage=clientAuth\n');
  const rogueCa = makeCa(dir, 'rogue-ca');
  const rogue = issue(dir, rogueCa, 'rogue', 'root', 'extendedKeyUsage=clientAuth\n');
  return { dir, ca: ca.cert, serverCert: server.cert, serverKey: server.key, clients: out, rogue: { ca: rogueCa.cert, ...rogue } };
}

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  proc: ChildProcess | null;
  log: string[];
}

export interface EtcdCluster {
  /** host:port of every member's client URL. */
  endpoints: string[];
  /** `etcd://…` or `etcds://…` with every endpoint. */
  spec(prefix: string): string;
  tls: boolean;
  pki: Pki | null;
  /** Stop one member (SIGTERM, or SIGKILL with `hard`); its data stays. */
  stopMember(i: number, hard?: boolean): Promise<void>;
  /** Start a stopped member again on its ports and data. */
  startMember(i: number): Promise<void>;
  /** A client as `user` (a client certificate with that CN) or plain. */
  client(user?: string): Etcd3;
  stop(): Promise<void>;
}

export interface EtcdOptions {
  members?: number;
  /** TLS with client certificates (etcds://). */
  tls?: boolean;
  /** Client certificate names to issue besides 'root'. */
  clients?: string[];
}

export async function startEtcd(opts: EtcdOptions = {}): Promise<EtcdCluster> {
  ensureEtcd();
  const n = opts.members ?? 1;
  const tls = opts.tls ?? false;
  const pki = tls ? makePki(['root', ...(opts.clients ?? [])]) : null;
  const base = mkdtempSync(path.join(tmpdir(), 'dvm-etcd-'));
  const members: Member[] = [];
  for (let i = 0; i < n; i++) {
    members.push({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort(), dataDir: path.join(base, `m${i}`), proc: null, log: [] });
  }
  const scheme = tls ? 'https' : 'http';
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  const token = path.basename(base);

  const launch = (m: Member) => {
    const args = [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', `${scheme}://127.0.0.1:${m.clientPort}`,
      '--advertise-client-urls', `${scheme}://127.0.0.1:${m.clientPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', token,
      '--logger', 'zap',
      '--log-level', 'warn',
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
    ];
    if (pki) args.push('--client-cert-auth', '--trusted-ca-file', pki.ca, '--cert-file', pki.serverCert, '--key-file', pki.serverKey);
    const proc = spawn(ETCD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    m.log = [];
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => {
      m.log.push(d);
      if (m.log.length > 200) m.log.shift();
    });
    // A member never keeps the test process alive: it is killed on exit.
    proc.unref();
    (proc.stderr as unknown as { unref(): void }).unref();
    m.proc = proc;
  };

  const client = (user?: string, hosts = members.map((m) => `127.0.0.1:${m.clientPort}`)) => {
    if (!pki) return new Etcd3({ hosts: hosts.map((h) => `http://${h}`), dialTimeout: 2000 });
    const who = pki.clients[user ?? 'root'];
    if (!who) throw new Error(`no client certificate for '${user}'`);
    return new Etcd3({
      hosts: hosts.map((h) => `https://${h}`),
      dialTimeout: 2000,
      credentials: { rootCertificate: readFileSync(pki.ca), certChain: readFileSync(who.cert), privateKey: readFileSync(who.key) },
    });
  };

  const healthy = async (m: Member) => {
    const until = Date.now() + 20_000;
    let last: unknown;
    while (Date.now() < until) {
      if (m.proc?.exitCode !== null) throw new Error(`etcd ${m.name} exited (${m.proc?.exitCode}): ${m.log.join('').slice(-2000)}`);
      const c = client('root', [`127.0.0.1:${m.clientPort}`]);
      try {
        await c.maintenance.status({ deadline: Date.now() + 1000 });
        return;
      } catch (e) {
        last = e;
      } finally {
        c.close();
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`etcd ${m.name} not healthy after 20 s: ${String(last)}; ${m.log.join('').slice(-2000)}`);
  };

  const stopProc = async (m: Member, hard = false) => {
    const p = m.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill(hard ? 'SIGKILL' : 'SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
    m.proc = null;
  };

  // Whatever happens to the test, no member outlives its process.
  const onExit = () => {
    for (const m of members) m.proc?.kill('SIGKILL');
    rmSync(base, { recursive: true, force: true });
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  try {
    for (const m of members) launch(m);
    // Members of a new cluster become healthy together (a quorum is needed).
    await Promise.all(members.map(healthy));
  } catch (e) {
    for (const m of members) await stopProc(m, true);
    rmSync(base, { recursive: true, force: true });
    throw e;
  }

  return {
    endpoints: members.map((m) => `127.0.0.1:${m.clientPort}`),
    spec: (prefix: string) => `${tls ? 'etcds' : 'etcd'}://${members.map((m) => `127.0.0.1:${m.clientPort}`).join(',')}/${prefix}`,
    tls,
    pki,
    stopMember: (i, hard) => stopProc(members[i], hard),
    startMember: async (i) => {
      launch(members[i]);
      await healthy(members[i]);
    },
    client: (user) => client(user),
    stop: async () => {
      process.removeListener('exit', onExit);
      for (const m of members) await stopProc(m);
      rmSync(base, { recursive: true, force: true });
      if (pki) rmSync(pki.dir, { recursive: true, force: true });
    },
  };
}

/**
 * etcd's authentication for a dvm cluster under `prefix` (no trailing
 * slash): user 'root' (root role), and one user per entry with the role it
 * names. Roles: `operator` reads and writes the whole prefix; `node:<N>`
 * reads the prefix and writes only its node keys and statuses; `credentialed:<N>`
 * adds the listing and the election. Users carry a random password that is
 * never used: they sign in with their client certificate (CN = user).
 */
export async function enableAuth(cluster: EtcdCluster, prefix: string, users: Record<string, string>): Promise<void> {
  const c = cluster.client('root');
  try {
    const p = `${prefix}/`;
    const pw = () => Math.random().toString(36).slice(2);
    await c.user('root').create(pw());
    await c.user('root').addRole('root');
    const made = new Set<string>();
    const role = async (name: string, grants: { permission: 'Read' | 'Write' | 'Readwrite'; key?: string; prefix?: string }[]) => {
      if (made.has(name)) return;
      made.add(name);
      await c.role(name).create();
      for (const g of grants) {
        await c.role(name).grant({ permission: g.permission, range: g.key !== undefined ? c.range(p + g.key) : c.range({ prefix: p + (g.prefix ?? '') }) });
      }
    };
    for (const [user, spec] of Object.entries(users)) {
      const [kind, node] = spec.split(':');
      const roleName = kind === 'operator' ? `dvm-operator` : `dvm-${kind}-${node}`;
      if (kind === 'operator') await role(roleName, [{ permission: 'Readwrite', prefix: '' }]);
      else {
        const grants: Parameters<typeof role>[1] = [
          { permission: 'Read', prefix: '' },
          { permission: 'Readwrite', key: `nodes/${node}` },
          { permission: 'Readwrite', key: `seen/${node}` },
          { permission: 'Readwrite', prefix: 'status/' },
        ];
        if (kind === 'credentialed') grants.push({ permission: 'Readwrite', key: 'listing' }, { permission: 'Readwrite', prefix: 'election/' });
        await role(roleName, grants);
      }
      await c.user(user).create(pw());
      await c.user(user).addRole(roleName);
    }
    await c.auth.authEnable({});
  } finally {
    c.close();
  }
}
