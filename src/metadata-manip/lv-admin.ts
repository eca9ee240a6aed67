import { failed, usageError } from '../lib/errors.js';
import { checkNewName, userLv, withSubLvs, type MutatorResult } from './common.js';
import { imageName, metaName, own, shallowCopy, type Vg } from './model.js';

/**
 * lv-remove NAME...: the LVs and their hidden sub-LVs go; their extents become
 * free. An origin goes only with every snapshot of it named too (LVM asks
 * before it removes them; a pipeline cannot be asked), a merging snapshot not at all.
 */
export function lvRemove(input: Vg, o: { name: string; more?: string[] }): MutatorResult {
  const WHAT = 'cannot remove logical volume';
  const vg = shallowCopy(input);
  const named = [o.name, ...(o.more ?? [])].map((n) => userLv(vg, n, WHAT));
  const ids = new Set(named.map((l) => l.id));
  for (const lv of named) {
    if (lv.snapshot?.merging) throw failed(WHAT, lv.name, 'is merging into its origin: wait for the merge to finish');
    const snaps = vg.lvs.filter((l) => l.snapshot?.origin === lv.id && !ids.has(l.id));
    if (snaps.length) throw failed(WHAT, lv.name, `is the origin of snapshot${snaps.length > 1 ? 's' : ''} ${snaps.map((s) => `'${s.name}'`).join(', ')}: name ${snaps.length > 1 ? 'them' : 'it'} too to remove ${snaps.length > 1 ? 'them' : 'it'} with the origin`);
  }
  const gone = new Set(named.flatMap((lv) => withSubLvs(vg, lv).map((l) => l.id)));
  vg.lvs = vg.lvs.filter((l) => !gone.has(l.id));
  return { vg, notes: [] };
}

/** lv-rename: the LV and its sub-LVs (NAME_rimage_N, NAME_rmeta_N) take the new name. */
export function lvRename(input: Vg, o: { name: string; newName: string }): MutatorResult {
  const WHAT = 'cannot rename logical volume';
  const vg = shallowCopy(input);
  const lv = own(vg, userLv(vg, o.name, WHAT));
  if (o.newName === o.name) throw usageError(WHAT, o.name, 'old and new names must differ');
  const subs = withSubLvs(vg, lv).slice(1).map((sub) => own(vg, sub));
  const renames = new Map<string, string>();
  for (const sub of subs) {
    const m = /_(rimage|rmeta)_(\d+)$/.exec(sub.name);
    if (!m || sub.name !== `${o.name}_${m[1]}_${m[2]}`) throw failed(WHAT, o.name, `sub-LV '${sub.name}' does not follow the naming it should`);
    renames.set(sub.id, m[1] === 'rimage' ? imageName(o.newName, Number(m[2])) : metaName(o.newName, Number(m[2])));
  }
  checkNewName(vg, o.newName, WHAT, [...renames.values()]);
  lv.name = o.newName;
  for (const sub of subs) sub.name = renames.get(sub.id)!;
  return { vg, notes: [] };
}
