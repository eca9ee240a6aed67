// The control plane on Cinder v3 and Nova v2.1. Every asynchronous operation
// is waited on with a deadline and an explicit failure set; a wait that runs
// out leaves a state the next call recognises and finishes (it waits again
// instead of repeating the request). Creates are idempotent by the dataset id
// in the volume's metadata: a create is only sent after a listing shows no
// volume for that dataset, and a create whose answer was lost is looked for
// in the listing rather than sent again.
import type { Limits, Volume, VolumeStatus } from '../../docs.js';
import { byCodeUnits } from '../../../lib/order.js';
import { checkMetadata, checkSize } from '../../backend/common.js';
import { BackendError, type ControlPlane, type CreateRequest } from '../../backend/types.js';
import type { Api } from './api.js';
import { HttpError, faultMessage, toBackendError } from './errors.js';
import type { HttpResponse } from './http.js';
import { META_CLUSTER, META_DATASET, VOLUME_ID, datasetOf } from './meta.js';
import type { Redactor } from './redact.js';

export const GiB = 1024 ** 3;

interface CinderAttachment {
  server_id?: string | null;
  host_name?: string | null;
  attachment_id?: string;
}

interface CinderVolume {
  id: string;
  name?: string | null;
  size: number;
  status: string;
  metadata?: Record<string, string>;
  attachments?: CinderAttachment[];
}

interface Server {
  id: string;
  name: string;
  status: string;
}

export interface ControlOptions {
  spec: string;
  /** Null: list every volume of the project (tools run without a store). */
  cluster: string | null;
  /** Deadline of one asynchronous operation (create, attach, ...), ms. */
  waitMs: number;
  /** Poll interval while waiting, ms. */
  pollMs: number;
  /** Nova's max_disk_devices_to_attach, when the operator knows it. */
  perServer: number | null;
  /** Largest volume the operator allows, bytes. */
  maxSize: number | null;
  /**
   * How often the listing also looks for volumes no cluster claims (which
   * `dataset adopt` takes), ms; null: never. Cinder cannot filter on a missing
   * metadata key, so that look is a whole-project listing: made at most this
   * often, the filtered one every pass. Default 300 s.
   */
  unclaimedMs?: number | null;
  log?: (line: string) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const STATUS: Record<string, VolumeStatus> = {
  creating: 'creating',
  available: 'available',
  reserved: 'attaching',
  attaching: 'attaching',
  'in-use': 'in-use',
  detaching: 'detaching',
  extending: 'extending',
  deleting: 'deleting',
  error: 'error',
  error_extending: 'error_extending',
  error_deleting: 'error_deleting',
};

const mapStatus = (s: string): VolumeStatus => STATUS[s] ?? (s.startsWith('error') ? 'error' : 'unknown');
const isFailure = (s: string) => s.startsWith('error');

export class OpenStackControl implements ControlPlane {
  readonly spec: string;
  #servers: { at: number; list: Server[] } | null = null;
  #lastList: Volume[] | null = null;

  constructor(
    private readonly api: Api,
    private readonly o: ControlOptions,
    private readonly redactor: Redactor,
  ) {
    this.spec = o.spec;
  }

  // ---- helpers ---------------------------------------------------------

  async #guard<T>(volumeId: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const b = toBackendError(e, volumeId);
      const msg = this.redactor.redact(b.message).replace(/\s+/g, ' ');
      throw new BackendError(b.kind, msg, b.volumeId ?? volumeId, b.node);
    }
  }

  #check(id: string): void {
    if (typeof id !== 'string' || !VOLUME_ID.test(id)) throw new BackendError('invalid', `volume id '${String(id).slice(0, 80)}' is not a Cinder volume id (a UUID)`, String(id).slice(0, 80));
  }

  #fail(call: string, res: HttpResponse): HttpError {
    return this.api.http.fail(call, res);
  }

  async #get(id: string): Promise<CinderVolume | null> {
    const call = `cinder show '${id}'`;
    const res = await this.api.call('volume', 'GET', `/volumes/${id}`, { call, idempotent: true });
    if (res.status === 404) return null;
    if (res.status !== 200) throw this.#fail(call, res);
    return (res.body as { volume: CinderVolume }).volume;
  }

  async #mustGet(id: string): Promise<CinderVolume> {
    const v = await this.#get(id);
    if (!v) throw new BackendError('unknown-volume', `volume '${id}': not found in Cinder`, id);
    return v;
  }

  /** Nova's servers, cached briefly: node names are server names. */
  async #serverList(fresh = false): Promise<Server[]> {
    if (!fresh && this.#servers && Date.now() - this.#servers.at < 30_000) return this.#servers.list;
    const list: Server[] = [];
    let marker: string | null = null;
    for (let page = 0; page < 1000; page++) {
      const q = `?limit=500${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`;
      const call = 'nova list-servers';
      const res = await this.api.call('compute', 'GET', `/servers/detail${q}`, { call, idempotent: true });
      if (res.status !== 200) throw this.#fail(call, res);
      const body = res.body as { servers: Server[]; servers_links?: { rel: string; href: string }[] };
      list.push(...body.servers.map((s) => ({ id: s.id, name: s.name, status: s.status })));
      const next = nextMarker(body.servers_links);
      if (!next || next === marker || body.servers.length === 0) break;
      marker = next;
    }
    this.#servers = { at: Date.now(), list };
    return list;
  }

  async #serverFor(node: string): Promise<string> {
    for (const fresh of [false, true]) {
      const list = await this.#serverList(fresh);
      const named = list.filter((s) => s.name === node);
      if (named.length > 1) throw new BackendError('invalid', `node '${node}': ${named.length} Nova servers have that name`);
      if (named.length === 1) return named[0]!.id;
      const byId = list.find((s) => s.id === node);
      if (byId) return byId.id;
    }
    throw new BackendError('invalid', `node '${node}': no Nova server of that name`);
  }

  /** The node a Cinder attachment is for (server name; a standalone Cinder's attachments carry only the connector's host). */
  async #nodeOf(a: CinderAttachment): Promise<string> {
    if (a.server_id) {
      let s = (await this.#serverList()).find((x) => x.id === a.server_id);
      if (!s) s = (await this.#serverList(true)).find((x) => x.id === a.server_id);
      return s?.name ?? a.server_id;
    }
    return a.host_name ?? 'unknown';
  }

  async #serverOfAttachment(a: CinderAttachment): Promise<string> {
    return a.server_id ?? (await this.#serverFor(a.host_name ?? ''));
  }

  async #toVolume(v: CinderVolume): Promise<Volume> {
    const metadata = { ...(v.metadata ?? {}) };
    const att = v.attachments?.[0];
    return {
      id: v.id,
      dataset: datasetOf(metadata),
      name: v.name ?? '',
      size: v.size * GiB,
      status: mapStatus(v.status),
      attached: att ? await this.#nodeOf(att) : null,
      metadata,
    };
  }

  /**
   * Polls the volume until `done`; `transient` states keep waiting, an
   * error state or any other state fails. A 404 is passed to `done` as null.
   * A failed poll (5xx, dropped connection) is survived until the deadline.
   */
  async #wait(id: string, what: string, done: (v: CinderVolume | null) => boolean, transient: string[]): Promise<CinderVolume | null> {
    const end = Date.now() + this.o.waitMs;
    let last = 'unknown';
    let lastError = '';
    for (;;) {
      let v: CinderVolume | null | undefined;
      try {
        v = await this.#get(id);
        lastError = '';
      } catch (e) {
        lastError = (e as Error).message;
        this.o.log?.(`openstack: ${what} '${id}': poll failed: ${this.redactor.redact(lastError)}`);
      }
      if (v !== undefined) {
        if (done(v)) return v;
        if (v === null) throw new BackendError('unknown-volume', `${what} '${id}': the volume disappeared`, id);
        last = v.status;
        if (isFailure(v.status)) throw new BackendError('unavailable', `${what} '${id}': the volume went to ${v.status}`, id);
        if (!transient.includes(v.status)) throw new BackendError('unavailable', `${what} '${id}': unexpected status ${v.status}`, id);
      }
      if (Date.now() + this.o.pollMs > end) {
        const s = Math.round(this.o.waitMs / 1000);
        throw new BackendError('unavailable', `${what} '${id}': still ${last} after ${s}s${lastError ? ` (last poll: ${lastError})` : ''}; the next pass waits again`, id);
      }
      await sleep(this.o.pollMs);
    }
  }

  async #listFiltered(filter: Record<string, string> | null): Promise<CinderVolume[]> {
    const out: CinderVolume[] = [];
    const meta = filter ? `&metadata=${encodeURIComponent(JSON.stringify(filter))}` : '';
    let marker: string | null = null;
    for (let page = 0; page < 100_000; page++) {
      const q = `?limit=200${meta}${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`;
      const call = 'cinder list';
      const res = await this.api.call('volume', 'GET', `/volumes/detail${q}`, { call, idempotent: true });
      if (res.status !== 200) throw this.#fail(call, res);
      const body = res.body as { volumes: CinderVolume[]; volumes_links?: { rel: string; href: string }[] };
      out.push(...body.volumes);
      const next = nextMarker(body.volumes_links);
      if (!next || next === marker || body.volumes.length === 0) break;
      marker = next;
    }
    // The server filtered already; check again so a cloud that ignored the filter cannot hand us another cluster's volume.
    return filter ? out.filter((v) => Object.entries(filter).every(([k, val]) => v.metadata?.[k] === val)) : out;
  }

  #unclaimedCache: { at: number; list: CinderVolume[] } | null = null;

  /** Volumes no cluster claims, from a whole-project listing made at most every unclaimedMs. */
  async #unclaimed(): Promise<CinderVolume[]> {
    const every = this.o.unclaimedMs === undefined ? 300_000 : this.o.unclaimedMs;
    if (every === null) return [];
    if (!this.#unclaimedCache || Date.now() - this.#unclaimedCache.at >= every) {
      const all = await this.#listFiltered(null);
      this.#unclaimedCache = { at: Date.now(), list: all.filter((v) => !v.metadata || !Object.hasOwn(v.metadata, META_CLUSTER)) };
    }
    return this.#unclaimedCache.list;
  }

  async #forDataset(cluster: string, dataset: string): Promise<CinderVolume[]> {
    return this.#listFiltered({ [META_CLUSTER]: cluster, [META_DATASET]: dataset });
  }

  // ---- the control plane ------------------------------------------------

  list(): Promise<Volume[]> {
    return this.#guard(undefined, async () => {
      const raw = await this.#listFiltered(this.o.cluster ? { [META_CLUSTER]: this.o.cluster } : null);
      const seen = new Set(raw.map((v) => v.id));
      for (const v of this.o.cluster ? await this.#unclaimed() : []) if (!seen.has(v.id)) raw.push(v);
      const vols: Volume[] = [];
      for (const v of raw) vols.push(await this.#toVolume(v));
      vols.sort((a, b) => byCodeUnits(a.id, b.id));
      this.#lastList = vols;
      return vols;
    });
  }

  limits(): Promise<Limits> {
    return this.#guard(undefined, async () => {
      const call = 'cinder limits';
      const res = await this.api.call('volume', 'GET', '/limits', { call, idempotent: true });
      if (res.status !== 200) throw this.#fail(call, res);
      const a = ((res.body as { limits?: { absolute?: Record<string, number> } }).limits?.absolute ?? {}) as Record<string, number>;
      const ours = this.#lastList ?? (await this.list());
      const ourBytes = ours.reduce((s, v) => s + v.size, 0);
      // Quotas count the whole project; what other volumes use is not ours to plan with.
      const quota = (max: number | undefined, used: number | undefined, mine: number) =>
        typeof max === 'number' && max >= 0 ? Math.max(0, max - Math.max(0, (used ?? 0) - mine)) : null;
      const maxVolumes = quota(a.maxTotalVolumes, a.totalVolumesUsed, ours.length);
      const maxGiB = quota(a.maxTotalVolumeGigabytes, a.totalGigabytesUsed, ourBytes / GiB);
      const cap = Math.floor(Number.MAX_SAFE_INTEGER / GiB) * GiB;
      const maxSize = Math.min(this.o.maxSize !== null ? Math.floor(this.o.maxSize / GiB) * GiB : cap, maxGiB !== null ? Math.max(GiB, maxGiB * GiB) : cap);
      return {
        allocation_unit: GiB,
        min_size: GiB,
        max_size: maxSize,
        per_node: this.o.perServer,
        max_volumes: maxVolumes,
        max_bytes: maxGiB === null ? null : maxGiB * GiB,
        can_shrink: false,
        can_snapshot: false,
      };
    });
  }

  create(req: CreateRequest): Promise<Volume> {
    return this.#guard(undefined, async () => {
      const metadata = { ...req.metadata, [META_CLUSTER]: req.cluster, [META_DATASET]: req.dataset };
      checkMetadata(metadata);
      // Past the size bounds or the quota: refused here, no call made.
      const gib = checkSize(req.size, await this.limits()) / GiB;
      let found = await this.#forDataset(req.cluster, req.dataset);
      if (found.length > 1) throw new BackendError('invalid', `create '${req.name}': dataset ${req.dataset} already has ${found.length} volumes (${found.map((v) => v.id).join(', ')})`);
      let id: string;
      if (found.length === 1) {
        id = found[0]!.id;
      } else {
        const call = `cinder create '${req.name}'`;
        let res: HttpResponse | null = null;
        try {
          res = await this.api.call('volume', 'POST', '/volumes', { call, body: { volume: { size: gib, name: req.name, metadata } } });
        } catch (e) {
          if (!(e instanceof HttpError && e.status === 0)) throw e;
          this.o.log?.(`openstack: ${e.message}; looking for the volume instead of creating again`);
        }
        if (res && res.status !== 202 && res.status !== 200) {
          if (res.status === 413) throw new BackendError('limit-exceeded', `${call}: over the project's quota: ${faultMessage(res.body)}`);
          throw this.#fail(call, res);
        }
        if (res) {
          id = (res.body as { volume: CinderVolume }).volume.id;
        } else {
          // No answer: the create may or may not have been taken. Look; never send it twice.
          const end = Date.now() + Math.min(this.o.waitMs, 10_000);
          for (;;) {
            found = await this.#forDataset(req.cluster, req.dataset);
            if (found.length > 0 || Date.now() > end) break;
            await sleep(this.o.pollMs);
          }
          if (found.length === 0) throw new BackendError('unavailable', `${call}: no answer and no volume for dataset ${req.dataset} appeared; the next pass looks again`);
          id = found[0]!.id;
        }
      }
      const v = (await this.#wait(id, `create '${req.name}'`, (x) => x?.status === 'available' || x?.status === 'in-use', ['creating']))!;
      // Some clouds dropped metadata given at create: put back what is missing.
      if (Object.entries(metadata).some(([k, val]) => v.metadata?.[k] !== val)) {
        await this.#setMetadata(id, metadata);
        v.metadata = { ...v.metadata, ...metadata };
      }
      return this.#toVolume(v);
    });
  }

  destroy(volumeId: string): Promise<void> {
    return this.#guard(volumeId, async () => {
      this.#check(volumeId);
      const v = await this.#mustGet(volumeId);
      const att = v.attachments?.[0];
      if (att) throw new BackendError('already-attached', `destroy '${volumeId}': attached to '${await this.#nodeOf(att)}'`, volumeId, await this.#nodeOf(att));
      if (v.status !== 'deleting') {
        const call = `cinder delete '${volumeId}'`;
        let res: HttpResponse | null = null;
        try {
          res = await this.api.call('volume', 'DELETE', `/volumes/${volumeId}`, { call });
        } catch (e) {
          if (!(e instanceof HttpError && e.status === 0)) throw e;
        }
        if (res?.status === 404) throw new BackendError('unknown-volume', `destroy '${volumeId}': not found in Cinder`, volumeId);
        if (res && res.status !== 202) throw this.#fail(call, res);
      }
      await this.#wait(volumeId, 'destroy', (x) => x === null, ['deleting', 'available', 'error']);
    });
  }

  attach(volumeId: string, node: string): Promise<Volume> {
    return this.#guard(volumeId, async () => {
      this.#check(volumeId);
      const v = await this.#mustGet(volumeId);
      const server = await this.#serverFor(node);
      const mine = (a: CinderAttachment) => a.server_id === server || (!a.server_id && a.host_name === node);
      const att = v.attachments ?? [];
      const other = att.find((a) => !mine(a));
      if (other) {
        const n = await this.#nodeOf(other);
        throw new BackendError('already-attached', `attach '${volumeId}': attached to '${n}'`, volumeId, n);
      }
      if (v.status === 'in-use' && att.some(mine)) throw new BackendError('already-attached', `attach '${volumeId}': already attached to '${node}'`, volumeId, node);
      const pending = v.status === 'reserved' || v.status === 'attaching';
      if (!pending) {
        if (v.status !== 'available') throw new BackendError('unavailable', `attach '${volumeId}': the volume is ${v.status}`, volumeId);
        if (this.o.perServer !== null) {
          const here = (this.#lastList ?? (await this.list())).filter((x) => x.attached === node && x.id !== volumeId).length;
          if (here >= this.o.perServer) throw new BackendError('limit-exceeded', `attach '${volumeId}': '${node}' has ${here} volumes, the most a server takes (${this.o.perServer})`, volumeId);
        }
        const call = `nova attach '${volumeId}' to '${node}'`;
        let res: HttpResponse | null = null;
        try {
          res = await this.api.call('compute', 'POST', `/servers/${server}/os-volume_attachments`, { call, body: { volumeAttachment: { volumeId } } });
        } catch (e) {
          if (!(e instanceof HttpError && e.status === 0)) throw e;
        }
        if (res && res.status === 404) {
          throw new BackendError('unknown-volume', `${call}: ${faultMessage(res.body) || 'not found'}`, volumeId);
        }
        if (res && res.status === 409) {
          const again = await this.#mustGet(volumeId);
          if (!(again.status === 'reserved' || again.status === 'attaching' || again.status === 'in-use')) throw this.#fail(call, res);
        } else if (res && res.status !== 200 && res.status !== 202) throw this.#fail(call, res);
      }
      const done = await this.#wait(
        volumeId,
        `attach to '${node}'`,
        (x) => x?.status === 'in-use' && (x.attachments ?? []).some(mine),
        ['available', 'reserved', 'attaching'],
      );
      this.#lastList = null;
      return this.#toVolume(done!);
    });
  }

  detach(volumeId: string): Promise<void> {
    return this.#guard(volumeId, async () => {
      this.#check(volumeId);
      const v = await this.#mustGet(volumeId);
      const att = v.attachments?.[0];
      if (!att) {
        if (v.status !== 'detaching') throw new BackendError('not-attached', `detach '${volumeId}': not attached`, volumeId);
      } else if (v.status !== 'detaching') {
        const server = await this.#serverOfAttachment(att);
        const call = `nova detach '${volumeId}'`;
        let res: HttpResponse | null = null;
        try {
          res = await this.api.call('compute', 'DELETE', `/servers/${server}/os-volume_attachments/${volumeId}`, { call });
        } catch (e) {
          if (!(e instanceof HttpError && e.status === 0)) throw e;
        }
        if (res?.status === 404) throw new BackendError('not-attached', `${call}: Nova has no such attachment`, volumeId);
        if (res && res.status !== 202 && res.status !== 200) throw this.#fail(call, res);
      }
      await this.#wait(volumeId, 'detach', (x) => x !== null && x.status === 'available' && (x.attachments ?? []).length === 0, ['in-use', 'detaching', 'available']);
      this.#lastList = null;
    });
  }

  resize(volumeId: string, size: number): Promise<Volume> {
    return this.#guard(volumeId, async () => {
      this.#check(volumeId);
      if (!Number.isSafeInteger(size) || size <= 0) throw new BackendError('invalid', `resize '${volumeId}': size ${size} is not a positive number of bytes`, volumeId);
      const v = await this.#mustGet(volumeId);
      const gib = Math.ceil(size / GiB);
      if (gib > v.size) checkSize(size, await this.limits(), volumeId);
      if (v.size > gib) throw new BackendError('unsupported', `resize '${volumeId}': Cinder cannot shrink a volume (${v.size} GiB to ${gib} GiB)`, volumeId);
      if (v.size === gib && v.status !== 'extending') return this.#toVolume(v);
      if (v.status !== 'extending') {
        if (v.status !== 'available' && v.status !== 'in-use') throw new BackendError('unavailable', `resize '${volumeId}': the volume is ${v.status}`, volumeId);
        const call = `cinder extend '${volumeId}' to ${gib} GiB`;
        let res: HttpResponse | null = null;
        try {
          res = await this.api.call('volume', 'POST', `/volumes/${volumeId}/action`, { call, body: { 'os-extend': { new_size: gib } } });
        } catch (e) {
          if (!(e instanceof HttpError && e.status === 0)) throw e;
        }
        if (res?.status === 413) throw new BackendError('limit-exceeded', `${call}: over the project's quota: ${faultMessage(res.body)}`, volumeId);
        if (res?.status === 404) throw new BackendError('unknown-volume', `${call}: not found`, volumeId);
        if (res && res.status !== 202) throw this.#fail(call, res);
      }
      const done = await this.#wait(
        volumeId,
        `extend to ${gib} GiB`,
        (x) => x !== null && x.size >= gib && (x.status === 'available' || x.status === 'in-use'),
        ['extending', 'available', 'in-use'],
      );
      return this.#toVolume(done!);
    });
  }

  async #setMetadata(id: string, metadata: Record<string, string>): Promise<void> {
    const call = `cinder set-metadata '${id}'`;
    // POST merges keys (PUT would replace all); repeating it is harmless.
    const res = await this.api.call('volume', 'POST', `/volumes/${id}/metadata`, { call, body: { metadata }, idempotent: true });
    if (res.status === 404) throw new BackendError('unknown-volume', `${call}: not found in Cinder`, id);
    if (res.status !== 200) throw this.#fail(call, res);
  }

  setMetadata(volumeId: string, metadata: Record<string, string>): Promise<void> {
    return this.#guard(volumeId, async () => {
      this.#check(volumeId);
      checkMetadata(metadata, volumeId);
      await this.#setMetadata(volumeId, metadata);
      this.#lastList = null;
      // Claimed now (adopt): no longer one of the unclaimed, whatever the cache says.
      if (this.#unclaimedCache && Object.hasOwn(metadata, META_CLUSTER)) this.#unclaimedCache.list = this.#unclaimedCache.list.filter((v) => v.id !== volumeId);
    });
  }

  liveNodes(): Promise<string[] | null> {
    return this.#guard(undefined, async () => (await this.#serverList(true)).filter((s) => s.status === 'ACTIVE').map((s) => s.name).sort());
  }
}

/** The marker of a `rel: next` paging link, taken from its query (never followed as a URL). */
export function nextMarker(links: { rel: string; href: string }[] | undefined): string | null {
  const next = links?.find((l) => l.rel === 'next');
  if (!next) return null;
  try {
    return new URL(next.href, 'http://x').searchParams.get('marker');
  } catch {
    return null;
  }
}
