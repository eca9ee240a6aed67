// How HTTP outcomes become the backend's typed errors. The agent reports the
// message on the dataset, so it is one line and names the call.
import { BackendError, type BackendErrorKind } from '../../backend/types.js';

/** A call that got an answer we did not expect (or none). */
export class HttpError extends Error {
  constructor(
    /** 0: no answer (timeout, connection refused or dropped). */
    readonly status: number,
    readonly call: string,
    readonly detail: string,
  ) {
    super(status === 0 ? `${call}: ${detail}` : `${call}: HTTP ${status}${detail ? `: ${detail}` : ''}`);
    this.name = 'HttpError';
  }
}

/** The kind an HTTP status maps to when the caller has no more specific meaning for it. */
export function kindOfStatus(status: number): BackendErrorKind {
  if (status === 0 || status >= 500 || status === 429) return 'unavailable';
  if (status === 401 || status === 403) return 'credentials';
  if (status === 404) return 'unknown-volume';
  if (status === 413) return 'limit-exceeded';
  return 'invalid';
}

export function toBackendError(e: unknown, volumeId?: string): BackendError {
  if (e instanceof BackendError) return e;
  if (e instanceof HttpError) return new BackendError(kindOfStatus(e.status), e.message, volumeId);
  return new BackendError('unavailable', e instanceof Error ? e.message : String(e), volumeId);
}

/** The error text OpenStack services put in a body: {"badRequest": {"message": ...}} and friends. */
export function faultMessage(body: unknown): string {
  if (body && typeof body === 'object') {
    for (const v of Object.values(body as Record<string, unknown>)) {
      if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') return (v as { message: string }).message;
    }
    const e = (body as { error?: { message?: unknown } }).error;
    if (e && typeof e.message === 'string') return e.message;
  }
  return typeof body === 'string' ? body.slice(0, 200) : '';
}
