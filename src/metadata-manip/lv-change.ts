import { failed, usageError } from '../lib/errors.js';
import { isValidTag, MAX_TAGS } from '../lib/names.js';
import { userLv, type MutatorResult } from './common.js';
import { own, shallowCopy, type Vg } from './model.js';

const WHAT = 'cannot change logical volume';

/** A tag as given on the command line: LVM accepts (and drops) a leading '@'. */
export function parseTag(arg: string): string {
  const tag = arg.startsWith('@') ? arg.slice(1) : arg;
  if (!isValidTag(tag)) throw usageError('invalid tag', arg, 'use 1 to 1024 of A-Z a-z 0-9 _ + . - / = ! : & #');
  return tag;
}

/**
 * lv-change --addtag/--deltag: as lvchange, additions first, then deletions
 * (so a tag both added and deleted ends up absent, as LVM2 does it); adding a
 * tag already there or deleting one that is not is no error. Tags are kept
 * sorted so that equal sets are equal bytes; an LV without tags has no list.
 */
export function lvChange(input: Vg, o: { name: string; addTags?: string[]; delTags?: string[] }): MutatorResult {
  const add = (o.addTags ?? []).map(parseTag);
  const del = (o.delTags ?? []).map(parseTag);
  if (add.length === 0 && del.length === 0) throw usageError(WHAT, o.name, 'nothing to change: give --addtag or --deltag');
  const vg = shallowCopy(input);
  const lv = own(vg, userLv(vg, o.name, WHAT));
  const tags = new Set(lv.tags ?? []);
  const notes: string[] = [];
  for (const t of add) if (tags.has(t)) notes.push(`Tag ${t} is already on logical volume ${vg.name}/${lv.name}`);
  for (const t of add) tags.add(t);
  for (const t of del) tags.delete(t);
  if (tags.size > MAX_TAGS) throw failed(WHAT, o.name, `${tags.size} tags: at most ${MAX_TAGS} per logical volume`);
  const sorted = [...tags].sort();
  if (sorted.length) lv.tags = sorted;
  else delete lv.tags;
  return { vg, notes };
}
