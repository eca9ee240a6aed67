// `--store etcd://HOST:PORT[,HOST:PORT...]/PREFIX` (plain) or `etcds://...`
// (TLS with client certificates). Pure: the parsed spec says where to connect
// and under which key prefix the cluster lives; TLS materials come separately
// (connect.ts), the way etcd's own tools take them.
import { usageError } from '../../../lib/errors.js';

export interface EtcdSpec {
  tls: boolean;
  /** host:port, in the order given. */
  endpoints: string[];
  /** The cluster's key prefix, `/a/b` (leading slash, no trailing one). */
  prefix: string;
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;
const SEGMENT = /^[A-Za-z0-9_.-]{1,128}$/;

export function isEtcdSpec(spec: string): boolean {
  return /^etcds?:\/\//.test(spec);
}

export function parseEtcdSpec(spec: string): EtcdSpec {
  const m = /^(etcds?):\/\/([^/]*)(\/.*)?$/.exec(spec);
  const bad = (cause: string) => usageError('store', spec, cause);
  if (!m) throw bad('expected etcd://HOST:PORT[,HOST:PORT...]/PREFIX or etcds://...');
  const [, scheme, hostPart, pathPart] = m;
  if (hostPart === '') throw bad('no endpoint given');
  const endpoints = hostPart.split(',').map((ep) => {
    const hp = /^(.*):(\d{1,5})$/.exec(ep);
    if (!hp || !HOST.test(hp[1])) throw bad(`endpoint '${ep}' is not HOST:PORT`);
    const port = Number(hp[2]);
    if (port < 1 || port > 65535) throw bad(`endpoint '${ep}': port out of range`);
    return ep;
  });
  if (new Set(endpoints).size !== endpoints.length) throw bad('an endpoint is given twice');
  if (pathPart === undefined || pathPart === '/' ) throw bad('no key prefix given (etcd://HOST:PORT/PREFIX): one etcd may serve several clusters');
  const segments = pathPart.replace(/\/+$/, '').slice(1).split('/');
  for (const s of segments) {
    if (!SEGMENT.test(s) || s === '.' || s === '..') throw bad(`prefix segment '${s}' must be [A-Za-z0-9_.-], not '.' or '..'`);
  }
  return { tls: scheme === 'etcds', endpoints, prefix: '/' + segments.join('/') };
}
