// `--wait` on a changing command: follow one dataset until its change has
// arrived, printing each phase it reaches to stderr with the elapsed time.
// A timeout ends the wait, never the change: the agents carry on.
import type { Store } from '../store/types.js';
import { failed } from '../../lib/errors.js';
import { arrived, overtaken, progressOf, type Goal } from './progress.js';
import { viewOf } from './views.js';

export interface FollowOptions {
  store: Store;
  id: string;
  name: string;
  /** The command, for messages ("move"). */
  what: string;
  goal: Goal;
  timeoutS: number;
  /** One progress line (stderr). */
  say: (line: string) => void;
  now?: () => number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Resolves when the change arrived; throws exit 1 with where it is stuck and why when the timeout passes. */
export async function follow(o: FollowOptions): Promise<void> {
  const clock = o.now ?? Date.now;
  const t0 = clock();
  const until = t0 + o.timeoutS * 1000;
  let wake: (() => void) | null = null;
  const stop = o.store.watch(() => wake?.());
  let last = '';
  let lastError: string | null = null;
  let label = 'starting';
  try {
    for (;;) {
      const desired = (await o.store.readDesired()).value;
      const statuses = await o.store.readStatuses();
      if (arrived(desired, statuses, o.id, o.goal)) {
        o.say(`${o.what} '${o.name}': ${secs(clock() - t0)}: ${o.goal.kind === 'gone' ? 'destroyed' : o.goal.node ? `mounted on ${o.goal.node}` : 'converged'}`);
        return;
      }
      const why = overtaken(desired, o.id, o.goal);
      if (why) throw failed(o.what, o.name, `not waiting any more: ${why}`);
      const [listing, nodes, fences] = await Promise.all([o.store.readListing(), o.store.readNodes(), o.store.readFences()]);
      let p = null;
      try {
        p = progressOf({ desired, statuses, listing, nodes, fences, now: new Date().toISOString() }, o.id);
      } catch {
        // A document the planner cannot use: the agents' own words below still say where it is.
      }
      const st = statuses[o.id];
      const reported = st && st.desired_changed === desired.datasets[o.id]?.changed ? st : undefined;
      if (p) label = p.label;
      const line = p ? `${p.label}${p.detail ? ` (${p.detail})` : ''}` : `${reported?.phase ?? 'no status yet'}${reported?.reason ? ` (${reported.reason})` : ''}`;
      if (line !== last) {
        o.say(`${o.what} '${o.name}': ${secs(clock() - t0)}: ${line}`);
        last = line;
      }
      if (reported?.error && reported.error !== lastError) o.say(`${o.what} '${o.name}': ${secs(clock() - t0)}: last error: ${reported.error}`);
      lastError = reported?.error ?? lastError;
      if (clock() >= until) {
        const d = desired.datasets[o.id];
        const v = d ? viewOf(d, st) : null;
        const target = o.goal.kind === 'gone' ? 'not destroyed' : o.goal.node ? `not on node '${o.goal.node}'` : 'not converged';
        throw failed(o.what, o.name, `${target} after ${o.timeoutS} s, stuck at ${label}: ${v?.waiting ?? 'no status'} (the change stands; the agents carry on)`);
      }
      // A change in the store wakes us; the poll covers stores that cannot watch.
      await Promise.race([new Promise<void>((r) => (wake = r)), sleep(Math.min(1000, Math.max(0, until - clock())))]);
      wake = null;
    }
  } finally {
    stop();
  }
}
