/**
 * VG and LV names become paths under /dev/mapper, so the rules live here and
 * in the schemas (which repeat NAME_PATTERN): a leading character that is not
 * '-', only [A-Za-z0-9+_.-], at most 127 characters, never '.' or '..'.
 */
export const NAME_PATTERN = '^(?!\\.{1,2}$)[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$';
const NAME_RE = new RegExp(NAME_PATTERN);

export function isValidName(name: string): boolean {
  return NAME_RE.test(name);
}

/** dm names are `<vg>-<lv>` with '-' inside either part doubled, as LVM does. */
export function dmName(vg: string, lv: string): string {
  return `${vg.replace(/-/g, '--')}-${lv.replace(/-/g, '--')}`;
}

/** Inverse of dmName; null when the name is not of that shape. */
export function splitDmName(name: string): { vg: string; lv: string } | null {
  const m = /^((?:[^-]|--)+)-((?:[^-]|--)+)$/.exec(name);
  if (!m) return null;
  return { vg: m[1].replace(/--/g, '-'), lv: m[2].replace(/--/g, '-') };
}
