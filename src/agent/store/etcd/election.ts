// The credentialed election on etcd, the recipe of etcd's own concurrency
// package: each candidate puts `election/<lease id>` bound to its lease; the
// key with the lowest create revision leads; a standby watches the keys
// before its own and re-checks when one goes. Built on the client's lease,
// transactions and watches.
//
// Fencing: `fenced(call)` first sends a keep-alive and waits for it (etcd
// then keeps the lease at least its TTL from that moment), then checks in a
// transaction that our election key still exists with our create revision
// (so nobody else can lead), then makes the call only if the lease is still
// surely alive by our monotonic clock with a margin. An agent paused past
// its lease (SIGSTOP, a partition) fails one of these on waking, whatever it
// believed, and makes no call. What no client-side guard can close is a
// pause landing after the check and before the call reaches the backend; the
// margin (half the TTL, at most 2 s) bounds how stale a check may be when
// the call starts.
import { performance } from 'node:perf_hooks';
import type { Etcd3, ICompare, Watcher } from 'etcd3';
import { EXIT } from '../../../lib/exit-codes.js';
import { ToolError } from '../../../lib/errors.js';
import type { Leadership } from '../types.js';
import { createIs, del, get, getPrefix, put, txn } from './kv.js';
import type { Grant, Session } from './session.js';

/** A control call refused because this agent does not lead (or no longer surely does). */
export class NotLeading extends ToolError {
  constructor(node: string, why: string) {
    super(EXIT.FAILED, `control call '${node}': not made: ${why}`);
    this.name = 'NotLeading';
  }
}

export const electionKey = (prefix: string, leaseId: string) => `${prefix}election/${BigInt(leaseId).toString(16)}`;

export class EtcdLeadership implements Leadership {
  readonly elected: Promise<void>;
  private resolveElected!: () => void;
  private leading = false;
  /** Resigned (or the store closed): never campaigns again. */
  private done = false;
  /** The current round's lease lapsed; a new round is being set up. */
  private lapsed = false;
  private grant: Grant | null = null;
  private key = '';
  private createRev = '';
  private watcher: Watcher | null = null;
  private readonly lostCbs: (() => void)[] = [];
  private stopLost: (() => void) | null = null;
  private checking = false;
  private recheck = false;
  /** Errors of the background campaign (store unreachable); the next check retries. */
  lastError: unknown = null;

  constructor(
    private readonly client: Etcd3,
    private readonly session: Session,
    private readonly prefix: string,
    readonly node: string,
    private readonly wrap: (e: unknown) => unknown,
  ) {
    this.elected = new Promise((r) => (this.resolveElected = r));
  }

  /** Puts our candidate key and starts watching; resolves once the key is in. */
  async start(): Promise<void> {
    const g = await this.session.grant();
    this.grant = g;
    this.key = electionKey(this.prefix, g.id);
    this.stopLost?.();
    this.stopLost = this.session.onLost((gen) => {
      if (gen === g.generation) this.lose('its lease expired');
    });
    const r = await txn(this.client, [createIs(this.key, '0')], [put(this.key, this.node, g.id)], [get(this.key)]);
    this.createRev = r.succeeded ? r.revision : String(r.ranges[0][0]?.create_revision ?? '0');
    if (this.createRev === '0') throw new Error(`election key '${this.key}' vanished while campaigning`);
    const w = await this.client.watch().prefix(`${this.prefix}election/`).create();
    this.watcher = w;
    w.on('delete', () => void this.check());
    w.on('connected', () => void this.check());
    w.on('error', () => {});
    // A safety net under the watch: a standby re-checks once per lease TTL.
    const net = setInterval(() => {
      if (this.done || this.lapsed || this.watcher !== w) clearInterval(net);
      else if (!this.leading) void this.check();
    }, this.session.ttl * 1000);
    net.unref();
    if (this.done || this.lapsed) {
      await w.cancel();
      return;
    }
    await this.check();
  }

  /**
   * After a lapse (lease lost while leading or waiting), campaign again under
   * a new lease as a standby, until that works or we resign. The loop asks
   * isLeader() each pass, so a later re-election is seen there.
   */
  private async recampaign(): Promise<void> {
    for (let attempt = 0; !this.done; attempt++) {
      try {
        this.lapsed = false;
        this.leading = false;
        await this.start();
        if (!this.lapsed) return;
      } catch (e) {
        this.lastError = this.wrap(e);
      }
      await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 2000)));
    }
  }

  /** Leads when no candidate key was created before ours, and ours still exists. */
  private async check(): Promise<void> {
    if (this.done || this.lapsed) return;
    if (this.checking) {
      this.recheck = true;
      return;
    }
    this.checking = true;
    try {
      do {
        this.recheck = false;
        const r = await txn(this.client, [createIs(this.key, this.createRev)], [getPrefix(`${this.prefix}election/`)]);
        if (!r.succeeded) {
          this.lose('its election key is gone (lease expired)');
          return;
        }
        const earlier = r.ranges[0].some((kv) => BigInt(kv.create_revision) < BigInt(this.createRev));
        if (!earlier && !this.leading && !this.done && !this.lapsed) {
          this.leading = true;
          this.resolveElected();
        }
      } while (this.recheck && !this.done && !this.lapsed);
      this.lastError = null;
    } catch (e) {
      this.lastError = this.wrap(e);
      // The store slow or away: look again soon (the watch may have nothing to say).
      if (!this.done && !this.lapsed) setTimeout(() => void this.check(), 500).unref();
    } finally {
      this.checking = false;
    }
  }

  private lose(_why: string): void {
    if (this.done || this.lapsed) return;
    const was = this.leading;
    this.lapsed = true;
    this.leading = false;
    this.stopLost?.();
    void this.watcher?.cancel().catch(() => {});
    this.watcher = null;
    if (was) for (const cb of this.lostCbs) cb();
    void this.recampaign();
  }

  isLeader(): boolean {
    return this.leading && !this.done && !this.lapsed && this.grant !== null && this.session.remaining(this.grant.generation) > 0;
  }

  private margin(): number {
    return Math.min(this.session.ttl * 500, 2000);
  }

  async fenced<T>(call: () => Promise<T>): Promise<T> {
    if (!this.isLeader() || !this.grant) throw new NotLeading(this.node, this.lapsed ? 'this agent lost the credentialed election (lease lapsed)' : 'this agent does not lead the credentialed election');
    const g = this.grant;
    const t0 = performance.now();
    try {
      await this.session.refresh(g);
      const r = await txn(this.client, [createIs(this.key, this.createRev)], []);
      if (!r.succeeded) {
        this.lose('its election key is gone');
        throw new NotLeading(this.node, 'its election key is gone (lease expired): another agent may lead');
      }
    } catch (e) {
      if (e instanceof NotLeading) throw e;
      throw new NotLeading(this.node, `the election could not be confirmed (${String((this.wrap(e) as Error).message ?? e)})`);
    }
    // Checked just now, and the lease is surely alive for a while yet: call.
    if (performance.now() - t0 > this.session.ttl * 1000 - this.margin() || !this.isLeader() || this.session.remaining(g.generation) < this.margin())
      throw new NotLeading(this.node, 'the election check took too long to trust (paused?)');
    return call();
  }

  /** The compare that holds only while our election key stands, for a write made as the leader. */
  fenceCompare(): ICompare | null {
    return this.isLeader() ? createIs(this.key, this.createRev) : null;
  }

  onLost(cb: () => void): void {
    this.lostCbs.push(cb);
  }

  /** Withdraws our candidate key (the lease stays: it holds the node key too). */
  async resign(): Promise<void> {
    if (this.done && this.key === '') return;
    this.done = true;
    this.leading = false;
    this.stopLost?.();
    await this.watcher?.cancel().catch(() => {});
    if (this.key) await txn(this.client, [createIs(this.key, this.createRev)], [del(this.key)]).catch(() => {});
    this.key = '';
  }
}
