// etcd and gRPC failures as the store's errors: anything that means "cannot
// reach or may not read the store" is StoreUnavailable (agents keep what is
// mounted and retry); our own ToolErrors pass through.
import { ToolError } from '../../../lib/errors.js';
import { StoreUnavailable } from '../types.js';

const DENIED = new Set(['EtcdPermissionDeniedError', 'EtcdAuthenticationFailedError', 'GRPCUnauthenticatedError', 'EtcdInvalidAuthTokenError', 'EtcdUserNotFoundError', 'EtcdRoleNotGrantedError']);

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m
    .split('\n')[0]
    .replace(/\s*(\(\d{4}-\d\d-\d\dT[^)]*\))?\.?\s*Resolution note:.*$/, '')
    .replace(/^\d+ UNAVAILABLE: No connection established\. Last error: (Error: )?/, '')
    .slice(0, 300);
}

export function storeError(where: string, e: unknown): unknown {
  if (e instanceof ToolError) return e;
  const name = e instanceof Error ? e.constructor.name : '';
  const msg = firstLine(e);
  if (DENIED.has(name)) return new StoreUnavailable(`store '${where}': permission denied (${msg})`);
  if (/bad certificate|certificate verify failed|unknown ca|handshake/i.test(msg)) return new StoreUnavailable(`store '${where}': TLS refused (${msg.replace(/^.*Last error: /, '')})`);
  if (name.startsWith('GRPC') || name === 'ClientRuntimeError' || name === 'ClientClosedError' || name === 'BrokenCircuitError' || /circuit|UNAVAILABLE|DEADLINE/.test(msg))
    return new StoreUnavailable(`store '${where}': unreachable (${msg})`);
  return e;
}
