// One lease per agent process: its node key and its election key are bound
// to it, so a dead agent drops out of both when the lease expires. The lease
// is kept alive by the client; here we also track, on a monotonic clock, how
// long etcd is certain to keep it (the send time of the last acknowledged
// keep-alive plus its TTL), because a paused process (SIGSTOP) wakes up with
// its timers late and must not trust what it last heard.
import { performance } from 'node:perf_hooks';
import type { Etcd3, Lease } from 'etcd3';

export interface Grant {
  id: string;
  /** Increases with each new lease: a leadership belongs to one grant. */
  generation: number;
  lease: Lease;
}

export class Session {
  private grantP: Promise<Grant> | null = null;
  private current: Grant | null = null;
  private generation = 0;
  /** performance.now() until which etcd surely keeps the current lease. */
  private validUntil = 0;
  private fired: number[] = [];
  private readonly lostCbs = new Set<(generation: number) => void>();
  private closed = false;
  /** Every lease id this session was granted: keys bound to them are ours to replace. */
  readonly ours = new Set<string>();

  constructor(
    private readonly client: Etcd3,
    readonly ttl: number,
  ) {}

  /** The live lease, granted on first use and again after a loss. */
  grant(): Promise<Grant> {
    if (this.closed) return Promise.reject(new Error('store closed'));
    // A lease we can no longer be sure of (paused past it, store unreachable
    // that long) is given up, not reused: whatever was bound to it is
    // re-established under a new one.
    if (this.current && performance.now() >= this.validUntil) {
      const old = this.current;
      this.lost(old.generation);
      void old.lease.revoke().catch(() => old.lease.release());
    }
    if (this.grantP) return this.grantP;
    const generation = ++this.generation;
    const t0 = performance.now();
    const lease = this.client.lease(this.ttl);
    this.fired = [];
    lease.on('keepaliveEstablished', () => (this.fired = []));
    lease.on('keepaliveFired', () => this.fired.push(performance.now()));
    lease.on('keepaliveSucceeded', (res) => {
      const sent = this.fired.shift() ?? performance.now();
      if (this.current?.generation === generation) this.validUntil = Math.max(this.validUntil, sent + Number(res.TTL) * 1000);
    });
    lease.on('lost', () => this.lost(generation));
    const p = lease.grant().then(
      (id) => {
        const g = { id, generation, lease };
        this.ours.add(id);
        if (this.current === null || this.current.generation < generation) {
          this.current = g;
          this.validUntil = t0 + this.ttl * 1000;
        }
        return g;
      },
      (e) => {
        if (this.grantP === p) this.grantP = null;
        throw e;
      },
    );
    this.grantP = p;
    return p;
  }

  private lost(generation: number): void {
    if (this.current && this.current.generation !== generation) return;
    this.current = null;
    this.grantP = null;
    this.validUntil = 0;
    for (const cb of this.lostCbs) cb(generation);
  }

  /** The current grant if it is surely still alive at etcd now. */
  aliveGrant(): Grant | null {
    if (!this.current || this.current.lease.revoked()) return null;
    return performance.now() < this.validUntil ? this.current : null;
  }

  /** Milliseconds etcd surely keeps `generation`'s lease from now (<= 0: maybe lapsed). */
  remaining(generation: number): number {
    if (!this.current || this.current.generation !== generation || this.current.lease.revoked()) return 0;
    return this.validUntil - performance.now();
  }

  /**
   * A keep-alive now, waited for: afterwards etcd keeps the lease at least
   * its TTL from the moment this was sent. Throws if the lease is gone.
   */
  async refresh(g: Grant): Promise<void> {
    const t0 = performance.now();
    const res = await g.lease.keepaliveOnce();
    if (this.current?.generation === g.generation) this.validUntil = Math.max(this.validUntil, t0 + Number(res.TTL) * 1000);
  }

  onLost(cb: (generation: number) => void): () => void {
    this.lostCbs.add(cb);
    return () => this.lostCbs.delete(cb);
  }

  /** Revokes the lease (node key and election key go at once). */
  async close(): Promise<void> {
    this.closed = true;
    const p = this.grantP;
    this.grantP = null;
    this.current = null;
    if (!p) return;
    const g = await p.catch(() => null);
    if (g) await g.lease.revoke().catch(() => g.lease.release());
  }
}
