// `--wait` on a changing command: follow the datasets it changed until the
// change has arrived, printing each phase each one reaches to stderr with the
// elapsed time. One dataset for create, grow, move...; every dataset a volume
// map touched for `map --apply`. A timeout ends the wait, never the change:
// the agents carry on.
import type { DatasetsDoc, DatasetStatus } from '../docs.js';
import type { Store } from '../store/types.js';
import { failed } from '../../lib/errors.js';
import { arrived, overtaken, progressAll, type ClusterView, type Goal, type Progress } from './progress.js';
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

export interface FollowItem {
  id: string;
  name: string;
  goal: Goal;
}

export interface FollowManyOptions extends Omit<FollowOptions, 'id' | 'name' | 'goal'> {
  items: FollowItem[];
  /** What the final error names (the map file); each line still names its dataset. */
  object: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Resolves when the change arrived; throws exit 1 with where it is stuck and why when the timeout passes. */
export async function follow(o: FollowOptions): Promise<void> {
  await run({ ...o, items: [{ id: o.id, name: o.name, goal: o.goal }] }, (stuck) => {
    const s = stuck[0];
    return failed(o.what, o.name, `${s.target} after ${o.timeoutS} s, stuck at ${s.label}: ${s.waiting} (the change stands; the agents carry on)`);
  });
}

/** `follow` for several datasets at once: one read of the store per round, whatever their number. */
export async function followMany(o: FollowManyOptions): Promise<void> {
  if (o.items.length === 0) return;
  await run(o, (stuck) => {
    const each = stuck.map((s) => `'${s.name}' ${s.target}, stuck at ${s.label}: ${s.waiting}`).join('; ');
    return failed(o.what, o.object, `${stuck.length} of ${o.items.length} datasets not there after ${o.timeoutS} s: ${each} (the change stands; the agents carry on)`);
  });
}

interface Stuck {
  name: string;
  target: string;
  label: string;
  waiting: string;
}

interface Track {
  item: FollowItem;
  done: boolean;
  last: string;
  lastError: string | null;
  label: string;
}

async function run(o: Omit<FollowOptions, 'id' | 'name' | 'goal'> & { items: FollowItem[] }, timedOut: (stuck: Stuck[]) => Error): Promise<void> {
  const clock = o.now ?? Date.now;
  const t0 = clock();
  const until = t0 + o.timeoutS * 1000;
  let wake: (() => void) | null = null;
  const stop = o.store.watch(() => wake?.());
  const tracks: Track[] = o.items.map((item) => ({ item, done: false, last: '', lastError: null, label: 'starting' }));
  const say = (t: Track, text: string) => o.say(`${o.what} '${t.item.name}': ${secs(clock() - t0)}: ${text}`);
  try {
    for (;;) {
      const desired = (await o.store.readDesired()).value;
      const statuses = await o.store.readStatuses();
      const open: Track[] = [];
      for (const t of tracks) {
        if (t.done) continue;
        const { id, goal } = t.item;
        if (arrived(desired, statuses, id, goal)) {
          say(t, goal.kind === 'gone' ? 'destroyed' : goal.node ? `mounted on ${goal.node}` : 'converged');
          t.done = true;
          continue;
        }
        const why = overtaken(desired, id, goal);
        if (why) throw failed(o.what, t.item.name, `not waiting any more: ${why}`);
        open.push(t);
      }
      if (open.length > 0) {
        const view = await clusterView(o.store, desired, statuses);
        let progress: Record<string, Progress> | null = null;
        try {
          progress = progressAll(view, open.map((t) => t.item.id));
        } catch {
          // A document the planner cannot use: the agents' own words still say where each is.
        }
        for (const t of open) report(t, progress?.[t.item.id] ?? null, desired, statuses, say);
      }
      if (tracks.every((t) => t.done)) return;
      if (clock() >= until) {
        throw timedOut(
          tracks.filter((t) => !t.done).map((t) => {
            const d = desired.datasets[t.item.id];
            const v = d ? viewOf(d, statuses[t.item.id]) : null;
            const g = t.item.goal;
            return { name: t.item.name, label: t.label, waiting: v?.waiting ?? 'no status', target: g.kind === 'gone' ? 'not destroyed' : g.node ? `not on node '${g.node}'` : 'not converged' };
          }),
        );
      }
      // A change in the store wakes us; the poll covers stores that cannot watch.
      await Promise.race([new Promise<void>((r) => (wake = r)), sleep(Math.min(1000, Math.max(0, until - clock())))]);
      wake = null;
    }
  } finally {
    stop();
  }
}

async function clusterView(store: Store, desired: DatasetsDoc, statuses: Record<string, DatasetStatus>): Promise<ClusterView> {
  const [listing, nodes, fences] = await Promise.all([store.readListing(), store.readNodes(), store.readFences()]);
  return { desired, statuses, listing, nodes, fences, now: new Date().toISOString() };
}

/** One dataset's phase line, printed when it changed, and its last error when new. */
function report(t: Track, p: Progress | null, desired: DatasetsDoc, statuses: Record<string, DatasetStatus>, say: (t: Track, text: string) => void): void {
  const { id } = t.item;
  const st = statuses[id];
  const reported = st && st.desired_changed === desired.datasets[id]?.changed ? st : undefined;
  if (p) t.label = p.label;
  const line = p ? `${p.label}${p.detail ? ` (${p.detail})` : ''}` : `${reported?.phase ?? 'no status yet'}${reported?.reason ? ` (${reported.reason})` : ''}`;
  if (line !== t.last) {
    say(t, line);
    t.last = line;
  }
  if (reported?.error && reported.error !== t.lastError) say(t, `last error: ${reported.error}`);
  t.lastError = reported?.error ?? t.lastError;
}
