// Authenticated calls to Cinder and Nova: the token, the service endpoint,
// the explicit microversion, and one repeat with a fresh token after a 401.
import type { Service, Session } from './auth.js';
import type { HttpClient, HttpRequest, HttpResponse } from './http.js';

/** 3.27+ attachments, 3.42+ extend of an in-use volume; nothing newer is needed. */
export const CINDER_MICROVERSION = '3.50';
export const NOVA_MICROVERSION = '2.1';

export interface CallOptions {
  call: string;
  body?: unknown;
  idempotent?: boolean;
  deadlineMs?: number;
}

export class Api {
  constructor(
    readonly session: Session,
    readonly http: HttpClient,
  ) {}

  async call(service: Service, method: HttpRequest['method'], path: string, o: CallOptions): Promise<HttpResponse> {
    const base = await this.session.endpoint(service);
    const version = service === 'volume' ? `volume ${CINDER_MICROVERSION}` : `compute ${NOVA_MICROVERSION}`;
    for (let attempt = 0; ; attempt++) {
      const token = await this.session.token();
      const res = await this.http.request({
        method,
        url: base + path,
        call: o.call,
        body: o.body,
        idempotent: o.idempotent,
        deadlineMs: o.deadlineMs,
        headers: { 'X-Auth-Token': token, 'OpenStack-API-Version': version, ...(service === 'compute' ? { 'X-OpenStack-Nova-API-Version': NOVA_MICROVERSION } : {}) },
      });
      // A token that expired early (revoked, clock skew): the service did nothing; ask once more.
      if (res.status === 401 && attempt === 0) {
        this.session.invalidate(token);
        if ((await this.session.token()) !== token) continue;
      }
      return res;
    }
  }
}
