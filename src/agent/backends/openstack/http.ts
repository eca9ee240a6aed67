// One small typed HTTP client over Node's fetch for every OpenStack call.
// Every attempt has a timeout and every request an overall deadline; a
// request is retried (with backoff) only when the caller says repeating it is
// safe (reads, PUTs of a whole value) or when the server said it did not take
// it (429, 503 with nothing done). A POST that got no answer is never
// repeated here: the caller finds out from a listing what happened.
import { HttpError, faultMessage } from './errors.js';
import type { Redactor } from './redact.js';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  /** What the call is, for messages: `cinder create 'dvm-x'`. */
  call: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Repeating it cannot do harm (GET, idempotent PUT/DELETE handled by the caller). */
  idempotent?: boolean;
  /** Overall deadline for this request including retries, ms. */
  deadlineMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

export interface HttpOptions {
  /** One attempt's timeout, ms (default 30 s). */
  attemptTimeoutMs?: number;
  /** Overall deadline when a request names none, ms (default 90 s). */
  deadlineMs?: number;
  /** Attempts for a retryable request (default 4). */
  attempts?: number;
  /** First backoff, ms, doubled each time (default 250). */
  backoffMs?: number;
  log?: (line: string) => void;
  redactor: Redactor;
  /** For tests: count or fail calls. */
  fetch?: typeof fetch;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Why fetch failed, in one word or two: ECONNREFUSED, timeout, socket closed. */
function networkCause(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return 'timed out';
  return err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
}

export class HttpClient {
  readonly #o: Required<Omit<HttpOptions, 'log' | 'fetch'>> & Pick<HttpOptions, 'log'> & { fetch: typeof fetch };
  /** Calls made, by `call` prefix (the loop reports how many calls a pass cost). */
  readonly counts = new Map<string, number>();

  constructor(o: HttpOptions) {
    this.#o = {
      attemptTimeoutMs: o.attemptTimeoutMs ?? 30_000,
      deadlineMs: o.deadlineMs ?? 90_000,
      attempts: o.attempts ?? 4,
      backoffMs: o.backoffMs ?? 250,
      redactor: o.redactor,
      log: o.log,
      fetch: o.fetch ?? fetch,
    };
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const o = this.#o;
    const end = Date.now() + (req.deadlineMs ?? o.deadlineMs);
    const headers: Record<string, string> = { Accept: 'application/json', ...req.headers };
    if (req.body !== undefined) headers['Content-Type'] = 'application/json';
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    const kind = req.call.split(' ').slice(0, 2).join(' ');
    for (let attempt = 1; ; attempt++) {
      const left = end - Date.now();
      if (left <= 0) throw new HttpError(0, req.call, 'deadline passed');
      this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
      let res: Response;
      try {
        res = await o.fetch(req.url, {
          method: req.method,
          headers,
          body,
          signal: AbortSignal.timeout(Math.min(o.attemptTimeoutMs, left)),
          redirect: 'error',
        });
      } catch (e) {
        const cause = networkCause(e);
        // A connection refused never reached the server: safe to repeat anything.
        const unsent = cause === 'ECONNREFUSED';
        if ((req.idempotent || unsent) && attempt < o.attempts && end - Date.now() > 0) {
          o.log?.(`openstack: ${req.call}: ${cause}; retry ${attempt}`);
          await sleep(Math.min(o.backoffMs * 2 ** (attempt - 1), Math.max(0, end - Date.now())));
          continue;
        }
        const note = req.idempotent || unsent ? '' : ' (it may have been applied)';
        throw new HttpError(0, req.call, o.redactor.redact(`no answer: ${cause}${note}`));
      }
      const text = await res.text().catch(() => '');
      let parsed: unknown = text;
      try {
        parsed = text === '' ? null : JSON.parse(text);
      } catch {
        /* keep the text */
      }
      // 429 and 503 mean the request was not taken; 502/504 are only safe for idempotent calls.
      const refused = res.status === 429 || res.status === 503;
      const retryable = refused || (req.idempotent === true && (res.status === 500 || res.status === 502 || res.status === 504));
      if (retryable && attempt < o.attempts && end - Date.now() > 0) {
        const after = Number(res.headers.get('retry-after'));
        const wait = Number.isFinite(after) && after > 0 ? after * 1000 : o.backoffMs * 2 ** (attempt - 1);
        o.log?.(`openstack: ${req.call}: HTTP ${res.status}; retry ${attempt}`);
        await sleep(Math.min(wait, Math.max(0, end - Date.now())));
        continue;
      }
      return { status: res.status, headers: res.headers, body: parsed };
    }
  }

  /** The error for a response the caller did not expect. */
  fail(call: string, res: HttpResponse): HttpError {
    return new HttpError(res.status, call, this.#o.redactor.redact(faultMessage(res.body)).replace(/\s+/g, ' ').trim());
  }
}
