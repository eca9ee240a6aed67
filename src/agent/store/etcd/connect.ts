// How an etcd store connects: TLS materials given the way etcdctl takes them
// (`--cacert/--cert/--key`, or ETCDCTL_CACERT / ETCDCTL_CERT / ETCDCTL_KEY),
// and the lease's time to live. Whoever can write the store decides what is
// formatted and destroyed on every node, so a private key others can read is
// refused, and `etcds://` without a client certificate is refused.
import { readFileSync, statSync } from 'node:fs';
import { causeOf, environmentError, usageError } from '../../../lib/errors.js';
import type { EtcdSpec } from './spec.js';

export interface EtcdTlsOptions {
  /** CA bundle that signed the members' certificates. */
  cacert?: string;
  /** This client's certificate (its CN is the etcd user) and key. */
  cert?: string;
  key?: string;
}

export interface EtcdConnectOptions extends EtcdTlsOptions {
  /** Seconds a node's lease lives without keep-alives (default 10, env DVM_ETCD_LEASE_TTL). */
  leaseTtl?: number;
  /** Milliseconds one request may take before the store counts as unreachable (default 5000). */
  callTimeoutMs?: number;
  /** Where the ETCDCTL_* fallbacks are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface TlsMaterials {
  rootCertificate: Buffer;
  certChain: Buffer;
  privateKey: Buffer;
}

export const DEFAULT_LEASE_TTL = 10;

function readPem(file: string, what: string, secret: boolean): Buffer {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    throw environmentError(`etcd ${what}`, file, causeOf(e));
  }
  if (!st.isFile()) throw environmentError(`etcd ${what}`, file, 'not a regular file');
  if (secret && (st.mode & 0o077) !== 0) throw environmentError(`etcd ${what}`, file, `readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  try {
    return readFileSync(file);
  } catch (e) {
    throw environmentError(`etcd ${what}`, file, causeOf(e));
  }
}

/** The TLS materials for `spec`, or null for a plain `etcd://` store. */
export function tlsMaterials(spec: EtcdSpec, opts: EtcdConnectOptions): TlsMaterials | null {
  const env = opts.env ?? process.env;
  const cacert = opts.cacert ?? env.ETCDCTL_CACERT;
  const cert = opts.cert ?? env.ETCDCTL_CERT;
  const key = opts.key ?? env.ETCDCTL_KEY;
  if (!spec.tls) {
    // Explicit options with a plain store are a mistake; stray variables are not.
    if (opts.cacert || opts.cert || opts.key) throw usageError('store', `etcd://${spec.endpoints.join(',')}${spec.prefix}`, 'TLS options given for a plain etcd:// store; use etcds://');
    return null;
  }
  const where = `etcds://${spec.endpoints.join(',')}${spec.prefix}`;
  if (!cacert) throw usageError('store', where, 'etcds:// needs the CA (--cacert or ETCDCTL_CACERT)');
  if (!cert || !key) throw usageError('store', where, 'etcds:// needs a client certificate and its key (--cert/--key or ETCDCTL_CERT/ETCDCTL_KEY)');
  return { rootCertificate: readPem(cacert, 'CA', false), certChain: readPem(cert, 'certificate', false), privateKey: readPem(key, 'key', true) };
}

export function leaseTtl(opts: EtcdConnectOptions): number {
  const env = opts.env ?? process.env;
  const raw = opts.leaseTtl ?? (env.DVM_ETCD_LEASE_TTL !== undefined ? Number(env.DVM_ETCD_LEASE_TTL) : DEFAULT_LEASE_TTL);
  if (!Number.isInteger(raw) || raw < 1 || raw > 3600) throw usageError('lease ttl', String(raw), 'expected whole seconds, 1 to 3600');
  return raw;
}
