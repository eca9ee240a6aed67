// What the dvm backend keeps about a volume, as LV tags (LVM's tag
// characters only: A-Z a-z 0-9 _ + . - / = ! : & #), pure both ways:
//   dvm.m.<key>=<value, base64url>   one per metadata key (dataset and cluster ids included)
//   dvm.name=<name, base64url>       the human name the create asked for
//   dvm.node=<node>                  the node the volume is attached to
// Keys are already [A-Za-z0-9_.:-] (backend/common.ts), so they go as they are;
// values are any one line, so they go as base64url, which uses tag characters only.
import { isValidTag, MAX_TAGS } from '../../../lib/names.js';
import { BackendError } from '../../backend/types.js';

export const META_PREFIX = 'dvm.m.';
export const NAME_TAG = 'dvm.name=';
export const NODE_TAG = 'dvm.node=';

export interface TagState {
  name: string | null;
  node: string | null;
  metadata: Record<string, string>;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
const unb64 = (s: string) => Buffer.from(s, 'base64url').toString('utf8');

export const metaTag = (key: string, value: string): string => `${META_PREFIX}${key}=${b64(value)}`;
export const nameTag = (name: string): string => NAME_TAG + b64(name);
export const nodeTag = (node: string): string => NODE_TAG + node;

/** The tags of `state`, each checked: a value too long for one tag is the caller's error. */
export function toTags(state: TagState, volumeId?: string): string[] {
  const tags = Object.entries(state.metadata).map(([k, v]) => metaTag(k, v));
  if (state.name !== null) tags.push(nameTag(state.name));
  if (state.node !== null) tags.push(nodeTag(state.node));
  for (const t of tags) if (!isValidTag(t)) throw new BackendError('invalid', `'${t.slice(0, 60)}…' does not fit in an LV tag (1024 characters)`, volumeId);
  if (tags.length > MAX_TAGS) throw new BackendError('invalid', `${tags.length} tags: an LV holds at most ${MAX_TAGS}`, volumeId);
  return tags.sort();
}

/** Reads our tags back; tags that are not ours (an operator's own) are ignored. */
export function fromTags(tags: readonly string[] | undefined): TagState {
  const out: TagState = { name: null, node: null, metadata: {} };
  for (const t of tags ?? []) {
    if (t.startsWith(NAME_TAG)) out.name = unb64(t.slice(NAME_TAG.length));
    else if (t.startsWith(NODE_TAG)) out.node = t.slice(NODE_TAG.length) || null;
    else if (t.startsWith(META_PREFIX)) {
      const eq = t.indexOf('=', META_PREFIX.length);
      if (eq > META_PREFIX.length) out.metadata[t.slice(META_PREFIX.length, eq)] = unb64(t.slice(eq + 1));
    }
  }
  return out;
}

/** lv-change arguments that turn `from` (the LV's tags now) into `to`. */
export function tagChanges(from: readonly string[] | undefined, to: readonly string[]): string[] {
  const have = new Set(from ?? []);
  const want = new Set(to);
  const ours = (t: string) => t.startsWith(META_PREFIX) || t.startsWith(NAME_TAG) || t.startsWith(NODE_TAG);
  const args: string[] = [];
  for (const t of want) if (!have.has(t)) args.push('--addtag', t);
  for (const t of have) if (ours(t) && !want.has(t)) args.push('--deltag', t);
  return args;
}
