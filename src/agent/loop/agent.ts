// The dataset agent's loop: passes separated by sleeps (timing.ts), a change
// in the store ending a sleep early, SIGTERM finishing the current step and
// then exiting. A credentialed agent campaigns for the election and runs as
// a plain node (local work only) until it leads. A node an operator fenced
// (`dataset node fence`) does nothing at all until the fence is lifted.
import { createHash } from 'node:crypto';
import type { Backend } from '../backend/types.js';
import { fenceWords, NodeFenced, type Leadership, type Store } from '../store/types.js';
import type { NodeFence } from '../docs.js';
import { isBackendError } from '../backend/types.js';
import { canonicalJson } from '../../lib/canonical-json.js';
import { failed, ToolError } from '../../lib/errors.js';
import type { Host } from '../apply/index.js';
import { CallCounter, formatCounts, type CallCounts } from './counting.js';
import { Fatal, runPass, type AgentContext, type PassReport } from './pass.js';
import { initialBackoff, nextDelay, type Outcome } from './timing.js';

export interface AgentOptions {
  node: string;
  credentialed: boolean;
  spec: string;
  store: Store;
  /** Already wrapped for counting (counter) and crash-test boundaries. */
  backend: Backend;
  counter: CallCounter;
  host: Host;
  mountRoot: string;
  appsDir: string | null;
  once: boolean;
  log: (line: string) => void;
  /** Tests: a source of randomness and a clock. */
  random?: () => number;
  now?: () => Date;
  /** Like SIGTERM: finish the current step, then return (in-process callers). */
  abort?: AbortSignal;
  /** Called after each pass with what it did and the backend calls it made. */
  onPass?: (report: PassReport | null, counts: CallCounts) => void;
}

/** What the store holds apart from this node's own writes: a change here is worth waking for. */
/** How soon a pass follows a change others made while the previous one ran. */
const CHANGED_DELAY_MS = 100;

/** What a fenced node's agent says, once per fence. */
const fencedLine = (node: string, f: NodeFence) =>
  `node '${node}' is ${fenceWords(f)}: this agent mounts and uses nothing, and takes no part in the election, until 'dataset node unfence ${node}'`;

async function fingerprint(store: Store, me: string): Promise<string> {
  const desired = await store.readDesired();
  const statuses = await store.readStatuses();
  const nodes = await store.readNodes();
  const others = Object.fromEntries(Object.entries(nodes).filter(([n]) => n !== me).map(([n, e]) => [n, { ...e, state: { ...e.state, observed_at: '' } }]));
  // Statuses this node wrote are its own doing: they wake nobody, least of all itself.
  const theirs = Object.fromEntries(Object.entries(statuses).filter(([, st]) => st.by !== me));
  const listing = await store.readListing();
  const fences = await store.readFences(); // a fence lifted (or set) wakes the node's agent
  return createHash('sha256')
    .update(canonicalJson({ d: desired.revision, s: theirs, n: others, l: listing ? { ...listing, listed_at: '' } : null, f: fences }))
    .digest('hex');
}

export async function runAgent(o: AgentOptions): Promise<void> {
  const now = o.now ?? (() => new Date());
  const random = o.random ?? Math.random;
  let stopping = false;
  let wake: (() => void) | null = null;
  const onSignal = (sig: string) => {
    if (!stopping) o.log(`${sig}: finishing the current step, then exiting`);
    stopping = true;
    wake?.();
  };
  const onTerm = () => onSignal('SIGTERM');
  const onInt = () => onSignal('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  const onAbort = () => onSignal('abort');
  o.abort?.addEventListener('abort', onAbort);

  // A credentialed agent campaigns at its first pass, and again after a
  // fence is lifted: a fenced node must not hold the election (a standby elsewhere leads).
  // Assigned in a closure too: the cast keeps TypeScript from narrowing it to null for good.
  let leadership = null as Leadership | null;
  const campaign = async () => {
    const l = (leadership = ctx.leadership = await o.store.campaign(o.node));
    void l.elected.then(
      () => {
        o.log('elected: this agent now makes the control calls');
        wake?.();
      },
      () => {},
    );
    // A free election is taken at once; give it that moment so a first pass (or --once) leads.
    await Promise.race([l.elected.catch(() => {}), new Promise((r) => setTimeout(r, 500))]);
    l.onLost(() => {
      o.log('election lost: no further control calls; back to standby');
      wake?.();
    });
  };
  let fencedSaid = '';

  // Changes made by others cut a sleep short; our own writes do not.
  let lastPrint = '';
  let checking = false;
  let pendingCheck = false;
  const check = async () => {
    if (checking) return void (pendingCheck = true);
    checking = true;
    try {
      do {
        pendingCheck = false;
        await new Promise((r) => setTimeout(r, 25)); // one look for a burst of events
        if ((await fingerprint(o.store, o.node).catch(() => '')) !== lastPrint) wake?.();
      } while (pendingCheck);
    } finally {
      checking = false;
    }
  };
  const unwatch = o.once ? () => {} : o.store.watch(() => void check());

  const ctx: AgentContext = {
    node: o.node,
    credentialed: o.credentialed,
    spec: o.spec,
    store: o.store,
    backend: o.backend,
    leadership: null,
    host: o.host,
    mountRoot: o.mountRoot,
    appsDir: o.appsDir,
    now,
    log: o.log,
    stopping: () => stopping,
    memo: {},
  };
  let backoff = initialBackoff();
  let failedOnce: string | null = null;
  try {
    while (!stopping) {
      const t0 = Date.now();
      let outcome: Outcome;
      let summary: string;
      let report: PassReport | null = null;
      o.counter.take();
      // What this pass starts from: a change by others after this point, even
      // one made while the pass runs (when no sleep is there to cut short), is
      // seen below and runs the next pass at once.
      lastPrint = await fingerprint(o.store, o.node).catch(() => '');
      try {
        // A fenced node's agent mounts and uses nothing: no discovery, no step, no election.
        const fence = (await o.store.readFences())[o.node];
        if (fence) throw new NodeFenced(fence, fencedLine(o.node, fence));
        if (o.credentialed && leadership === null) await campaign();
        if (fencedSaid) o.log(`node '${o.node}' is no longer fenced: back to work`);
        fencedSaid = '';
        const r = (report = await runPass(ctx));
        outcome = r.outcome;
        const left = Object.values(r.plan.datasets).filter((v) => v.phase !== 'converged').length;
        summary = `${r.results.length} steps${r.outcome.failed ? ' (some failed)' : ''}, ${r.outcome.converged ? 'converged' : `${left} not converged`}${o.credentialed ? (r.leading ? ', leading' : ', standby') : ''}`;
        if (r.outcome.failed) failedOnce = r.results.find((x) => !x.ok)?.message ?? 'a step failed';
      } catch (e) {
        if (e instanceof Fatal) throw e;
        if (e instanceof NodeFenced) {
          if (o.once) throw failed('pass', o.node, e.message);
          const l = leadership as Leadership | null;
          leadership = ctx.leadership = null;
          if (l) await l.resign().catch(() => {});
          // Said once per fence, not every pass; the store's watch wakes us when it is lifted.
          if (e.message !== fencedSaid) o.log(e.message);
          fencedSaid = e.message;
          outcome = { converged: true, progressed: false, failed: false };
          summary = `skipped: node '${o.node}' is fenced`;
        } else {
          // The store or the backend unavailable: keep mounts, try again later.
          const msg = e instanceof ToolError || isBackendError(e) ? e.message : e instanceof Error ? e.message : String(e);
          if (!(e instanceof ToolError) && !isBackendError(e)) throw e; // a bug: crash loudly, systemd restarts us
          outcome = { converged: false, progressed: false, failed: true };
          summary = `failed: ${msg}`;
          failedOnce = msg;
        }
      }
      const counts = o.counter.take();
      o.onPass?.(report, counts);
      const next = nextDelay(outcome, backoff, random());
      backoff = next.backoff;
      if (!o.once && !stopping) {
        const after = await fingerprint(o.store, o.node).catch(() => '');
        if (after !== lastPrint) {
          lastPrint = after;
          next.delayMs = Math.min(next.delayMs, CHANGED_DELAY_MS);
        }
      }
      o.log(`pass ${summary} in ${Date.now() - t0} ms; backend calls: ${formatCounts(counts)}${o.once || stopping ? '' : `; next in ${(next.delayMs / 1000).toFixed(1)} s`}`);
      if (o.once) {
        if (outcome.failed) throw failed('pass', o.node, failedOnce ?? 'failed');
        break;
      }
      if (stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, next.delayMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    unwatch();
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    o.abort?.removeEventListener('abort', onAbort);
    await (leadership as Leadership | null)?.resign().catch(() => {});
  }
}
