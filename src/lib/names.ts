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

/**
 * LV tags as LVM accepts them (validate_tag in lvm2): A-Z a-z 0-9 and
 * _ + . - / = ! : & #. LVM 2.03 sets no length limit (its old manual said
 * 1024); we keep 1024 so that one tag cannot fill a metadata record. The
 * schema repeats TAG_PATTERN.
 */
export const TAG_PATTERN = '^[A-Za-z0-9_+./=!:&#-]{1,1024}$';
export const MAX_TAG_LENGTH = 1024;
/** Tags per LV: enough for any agent's markers, bounded so the metadata stays small. */
export const MAX_TAGS = 128;
const TAG_RE = new RegExp(TAG_PATTERN);

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}
