// `--store S`: a directory on one machine, or etcd endpoints and a prefix for
// several (`etcd://host:port[,host:port]/prefix`, `etcds://` with TLS and
// client certificates given as `--cacert/--cert/--key` or etcdctl's
// ETCDCTL_CACERT/ETCDCTL_CERT/ETCDCTL_KEY). One parser for every tool.
import type { Argv } from 'yargs';
import { usageError } from '../../lib/errors.js';
import type { Store } from './types.js';
import { openDirStore } from './dir/dir-store.js';
import type { EtcdConnectOptions } from './etcd/connect.js';
import { isEtcdSpec } from './etcd/spec.js';

export interface OpenStoreOptions {
  /** Make a directory store that does not exist yet. */
  create?: boolean;
  /** TLS materials, lease TTL and timeouts for an etcd store. */
  etcd?: EtcdConnectOptions;
}

export async function openStore(spec: string, opts: OpenStoreOptions = {}): Promise<Store> {
  if (spec === '') throw usageError('store', spec, 'expected a directory or etcd:// endpoints');
  if (isEtcdSpec(spec)) {
    // Loaded only for etcd: its gRPC client is large and a directory store needs none of it.
    const { openEtcdStore } = await import('./etcd/etcd-store.js');
    return openEtcdStore(spec, opts.etcd);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) throw usageError('store', spec, 'expected a directory, etcd:// or etcds://');
  return openDirStore(spec, { create: opts.create });
}

/** Adds the etcd store's TLS options (as etcdctl spells them) to a tool's parser. */
export function withStoreOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('cacert', { type: 'string', requiresArg: true, describe: 'etcds://: the CA that signed the etcd members (or ETCDCTL_CACERT)' })
    .option('cert', { type: 'string', requiresArg: true, describe: "etcds://: this client's certificate (or ETCDCTL_CERT)" })
    .option('key', { type: 'string', requiresArg: true, describe: "etcds://: this client's private key, mode 600 (or ETCDCTL_KEY)" }) as Argv<T>;
}

/** The etcd connect options from parsed arguments (absent ones fall back to ETCDCTL_*). */
export function storeConnectOptions(args: Record<string, unknown>): EtcdConnectOptions {
  const s = (k: string) => (typeof args[k] === 'string' ? (args[k] as string) : undefined);
  return { cacert: s('cacert'), cert: s('cert'), key: s('key') };
}
