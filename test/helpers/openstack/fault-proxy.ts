// TEST DOUBLE: an HTTP proxy on 127.0.0.1 in front of a real service that
// misbehaves on request: answers 500 without passing the request on (or
// with the request's token echoed in the message, as a careless server might), drops
// the connection before passing it on, or passes it on and drops the answer
// (the service did the work; the client never hears of it).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export type Fault = '500' | 'echo-500' | 'reset' | 'drop-response';

interface Rule {
  method: string;
  path: RegExp;
  fault: Fault;
  times: number;
}

export class FaultProxy {
  #rules: Rule[] = [];
  #server: Server | null = null;
  url = '';
  /** Faults that fired, `fault METHOD path`. */
  readonly fired: string[] = [];
  /** Requests passed on, `METHOD path`. */
  readonly passed: string[] = [];

  constructor(private readonly target: string) {}

  /** The next `times` requests matching `method` and `path` get `fault`. */
  inject(method: string, path: RegExp, fault: Fault, times = 1): void {
    this.#rules.push({ method, path, fault, times });
  }

  clear(): void {
    this.#rules = [];
  }

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch(() => res.destroy());
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', () => r()));
    this.#server.unref();
    const a = this.#server.address();
    this.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    this.#server?.ref();
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = req.url ?? '/';
    const rule = this.#rules.find((r) => r.times > 0 && r.method === req.method && r.path.test(url.split('?')[0]!));
    if (rule) {
      rule.times--;
      this.fired.push(`${rule.fault} ${req.method} ${url}`);
      if (rule.fault === '500') {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ computeFault: { message: 'injected by the fault proxy (test double)', code: 500 } }));
        return;
      }
      if (rule.fault === 'echo-500') {
        // A careless server that puts the request's token in its error message.
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ computeFault: { message: `token ${req.headers['x-auth-token']} broke something`, code: 500 } }));
        return;
      }
      if (rule.fault === 'reset') {
        req.socket.destroy();
        return;
      }
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'connection' && k !== 'content-length') headers[k] = v;
    this.passed.push(`${req.method} ${url}`);
    const up = await fetch(this.target + url, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
    const body = Buffer.from(await up.arrayBuffer());
    if (rule?.fault === 'drop-response') {
      req.socket.destroy();
      return;
    }
    const out: Record<string, string> = {};
    up.headers.forEach((v, k) => {
      if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection' && k !== 'content-encoding') out[k] = v;
    });
    res.writeHead(up.status, out);
    res.end(body);
  }
}
