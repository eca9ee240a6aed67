// TEST DOUBLE of Nova: an HTTP server on 127.0.0.1 serving the part of the
// compute API the backend uses (servers, os-volume_attachments). An attach
// does what Nova and a hypervisor would, against the real Cinder: reserve a
// Cinder attachment, give it a connector, loop-attach the volume's file (the
// file volume double hands back its path) and complete it; then the "guest"
// sees a disk: a by-id link in one of the forms real hypervisors produce,
// sometimes late, sometimes never. The attachment's `device` is deliberately
// wrong, as real ones can be. A resize of an attached volume is passed on to
// its loop device, as a hypervisor passes it to the guest.
import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { byIdNames } from '../../../src/agent/backends/openstack/device.js';

export type LinkForm = 'virtio-serial20' | 'virtio-full' | 'scsi-qemu' | 'wwn';

export const LINK_FORMS: LinkForm[] = ['virtio-serial20', 'virtio-full', 'scsi-qemu', 'wwn'];

export function linkName(form: LinkForm, volumeId: string): string {
  const [v20, vfull, , scsiFull, , wwn] = byIdNames(volumeId);
  return { 'virtio-serial20': v20!, 'virtio-full': vfull!, 'scsi-qemu': scsiFull!, wwn: wwn! }[form];
}

interface Attached {
  volumeId: string;
  serverId: string;
  attachmentId: string;
  loop: string | null;
  link: string | null;
  timers: NodeJS.Timeout[];
}

export interface NovaDoubleOptions {
  /** The Cinder the double talks to (directly, not through any fault proxy): `.../v3/<project>`. */
  cinder: string;
  /** A token Cinder accepts. */
  token: () => Promise<string>;
  /** The guest's /dev/disk/by-id for each server (by server name). */
  byIdRoot: (server: string) => string;
  /** Where the file volume double keeps volume files. */
  volumesDir: string;
  servers: string[];
}

export class NovaDouble {
  readonly servers: { id: string; name: string; status: string }[];
  readonly attached = new Map<string, Attached>();
  /** Knobs the tests turn. */
  form: LinkForm | ((volumeId: string) => LinkForm) = 'virtio-serial20';
  linkDelayMs = 0;
  noLink = false;
  /** Hold attaches in `attaching` until released (a stuck attach). */
  stall = false;
  #stalled: (() => void)[] = [];
  /** Requests seen, `METHOD path`. */
  readonly requests: string[] = [];
  url = '';
  #server: Server | null = null;
  #resizeTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: NovaDoubleOptions) {
    this.servers = o.servers.map((name) => ({ id: randomUUID(), name, status: 'ACTIVE' }));
  }

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((e: unknown) => this.#send(res, 500, { computeFault: { message: String((e as Error)?.message ?? e) } }));
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', () => r()));
    // Unref'd: a test file whose suite has no after hook ends when its tests do (and stops us then).
    this.#server.unref();
    const a = this.#server.address();
    this.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/v2.1`;
    this.#resizeTimer = setInterval(() => this.#passResizes(), 250);
    this.#resizeTimer.unref();
    return this.url;
  }

  releaseStalled(): void {
    this.stall = false;
    for (const f of this.#stalled.splice(0)) f();
  }

  async stop(): Promise<void> {
    if (this.#resizeTimer) clearInterval(this.#resizeTimer);
    for (const a of this.attached.values()) this.#unplug(a);
    this.attached.clear();
    this.#server?.ref();
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  #send(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) return;
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(body === null ? '' : JSON.stringify(body));
  }

  async #cinder(method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
    const r = await fetch(this.o.cinder + p, {
      method,
      headers: { 'X-Auth-Token': await this.o.token(), 'Content-Type': 'application/json', 'OpenStack-API-Version': 'volume 3.50' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname.replace(/^\/v2\.1/, '');
    this.requests.push(`${req.method} ${p}`);
    let raw = '';
    for await (const chunk of req) raw += chunk;
    if (!req.headers['x-auth-token']) return this.#send(res, 401, { error: { message: 'no token' } });
    if (req.method === 'GET' && (p === '/servers/detail' || p === '/servers')) {
      const name = url.searchParams.get('name');
      return this.#send(res, 200, { servers: this.servers.filter((s) => !name || new RegExp(name).test(s.name)) });
    }
    const m = /^\/servers\/([^/]+)\/os-volume_attachments(?:\/([^/]+))?$/.exec(p);
    const server = m && this.servers.find((s) => s.id === m[1]);
    if (!m || !server) return this.#send(res, 404, { itemNotFound: { message: `no such resource ${p}` } });
    const [, , volumeId] = m;
    if (req.method === 'GET' && !volumeId) {
      const list = [...this.attached.values()].filter((a) => a.serverId === server.id).map((a) => this.#attachmentBody(a));
      return this.#send(res, 200, { volumeAttachments: list });
    }
    if (req.method === 'POST' && !volumeId) return this.#attach(server, JSON.parse(raw || '{}'), res);
    if (req.method === 'DELETE' && volumeId) return this.#detach(server, volumeId, res);
    return this.#send(res, 405, { badRequest: { message: 'not served by the Nova double' } });
  }

  #attachmentBody(a: Attached) {
    // A real attachment's device is a guess of the hypervisor's: this one is always wrong on purpose.
    return { id: a.volumeId, volumeId: a.volumeId, serverId: a.serverId, device: '/dev/vdz' };
  }

  async #attach(server: { id: string; name: string }, body: { volumeAttachment?: { volumeId?: string } }, res: ServerResponse): Promise<void> {
    const volumeId = body.volumeAttachment?.volumeId;
    if (!volumeId) return this.#send(res, 400, { badRequest: { message: 'volumeAttachment.volumeId missing' } });
    const v = await this.#cinder('GET', `/volumes/${volumeId}`);
    if (v.status === 404) return this.#send(res, 404, { itemNotFound: { message: `volume ${volumeId} could not be found` } });
    if (v.body.volume.status !== 'available') return this.#send(res, 409, { conflictingRequest: { message: `volume ${volumeId} is ${v.body.volume.status}` } });
    // Without instance_uuid: Cinder would otherwise ask a real Nova before letting the attachment go.
    const created = await this.#cinder('POST', '/attachments', { attachment: { volume_uuid: volumeId } });
    if (created.status !== 200) return this.#send(res, created.status, created.body);
    const a: Attached = { volumeId, serverId: server.id, attachmentId: created.body.attachment.id, loop: null, link: null, timers: [] };
    this.attached.set(volumeId, a);
    this.#send(res, 200, { volumeAttachment: this.#attachmentBody(a) });
    // The rest is asynchronous, as in Nova.
    void this.#connect(a, server.name).catch((e: unknown) => process.stderr.write(`nova double: attach ${volumeId}: ${(e as Error).message}\n`));
  }

  async #connect(a: Attached, serverName: string): Promise<void> {
    const connector = { host: serverName, initiator: `iqn.2004-10.dvm.test:${serverName}`, multipath: false, platform: 'x86_64', os_type: 'linux', mountpoint: '/dev/vdz' };
    const upd = await this.#cinder('PUT', `/attachments/${a.attachmentId}`, { attachment: { connector } });
    if (upd.status !== 200) throw new Error(`attachment update: ${upd.status}`);
    if (this.stall) await new Promise<void>((r) => this.#stalled.push(r));
    if (!this.attached.has(a.volumeId)) return;
    const file: string = upd.body.attachment.connection_info.device_path;
    a.loop = execFileSync('losetup', ['-f', '--show', file], { encoding: 'utf8' }).trim();
    const done = await this.#cinder('POST', `/attachments/${a.attachmentId}/action`, { 'os-complete': null });
    if (done.status !== 204 && done.status !== 200) throw new Error(`attachment complete: ${done.status}`);
    if (this.noLink) return;
    const form = typeof this.form === 'function' ? this.form(a.volumeId) : this.form;
    const makeLink = () => {
      if (!this.attached.has(a.volumeId) || !a.loop) return;
      const root = this.o.byIdRoot(serverName);
      mkdirSync(root, { recursive: true });
      a.link = path.join(root, linkName(form, a.volumeId));
      rmSync(a.link, { force: true });
      symlinkSync(a.loop, a.link);
    };
    if (this.linkDelayMs > 0) a.timers.push(setTimeout(makeLink, this.linkDelayMs));
    else makeLink();
  }

  #unplug(a: Attached): void {
    for (const t of a.timers) clearTimeout(t);
    if (a.link) rmSync(a.link, { force: true });
    if (a.loop) {
      try {
        execFileSync('losetup', ['-d', a.loop], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
    a.loop = null;
    a.link = null;
  }

  async #detach(server: { id: string }, volumeId: string, res: ServerResponse): Promise<void> {
    const a = this.attached.get(volumeId);
    if (!a || a.serverId !== server.id) return this.#send(res, 404, { itemNotFound: { message: `volume ${volumeId} is not attached to ${server.id}` } });
    this.attached.delete(volumeId);
    this.#send(res, 202, null);
    this.#unplug(a);
    const r = await this.#cinder('DELETE', `/attachments/${a.attachmentId}`);
    if (r.status !== 200) process.stderr.write(`nova double: attachment delete ${volumeId}: ${r.status} ${JSON.stringify(r.body)}\n`);
  }

  /** A resized volume file grows its loop device (what the hypervisor's resize event does). */
  #passResizes(): void {
    for (const a of this.attached.values()) {
      if (!a.loop) continue;
      try {
        const fileSize = statSync(path.join(this.o.volumesDir, `volume-${a.volumeId}`)).size;
        const dev = Number(execFileSync('blockdev', ['--getsize64', a.loop], { encoding: 'utf8' }).trim());
        if (fileSize > dev) execFileSync('losetup', ['-c', a.loop]);
      } catch {
        /* detached meanwhile */
      }
    }
  }
}
