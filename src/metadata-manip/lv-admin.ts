import { failed, usageError } from '../lib/errors.js';
import { checkNewName, userLv, withSubLvs, type MutatorResult } from './common.js';
import { imageName, metaName, own, shallowCopy, type Vg } from './model.js';

/** lv-remove: the LV and its hidden sub-LVs go; their extents become free. */
export function lvRemove(input: Vg, o: { name: string }): MutatorResult {
  const vg = shallowCopy(input);
  const lv = userLv(vg, o.name, 'cannot remove logical volume');
  const gone = new Set(withSubLvs(vg, lv).map((l) => l.id));
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
