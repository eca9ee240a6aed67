// `--store S`: a directory on one machine, or etcd endpoints and a prefix for
// several (`etcd://host:port[,host:port]/prefix`, `etcds://` with TLS).
import { usageError } from '../../lib/errors.js';
import type { Store } from './types.js';
import { openDirStore } from './dir/dir-store.js';

export interface OpenStoreOptions {
  /** Make a directory store that does not exist yet. */
  create?: boolean;
}

export async function openStore(spec: string, opts: OpenStoreOptions = {}): Promise<Store> {
  if (/^etcds?:\/\//.test(spec)) throw usageError('store', spec, 'the etcd store is not built in yet');
  if (spec === '') throw usageError('store', spec, 'expected a directory or etcd:// endpoints');
  return openDirStore(spec, { create: opts.create });
}
