// Field names, headings and defaults, as lvs/pvs/vgs name them.
export type Kind = 'lvs' | 'pvs' | 'vgs' | 'segments';

/** heading, and whether the value is a size in sectors (printed with --units) */
export const FIELDS: Record<string, { heading: string; size?: boolean }> = {
  lv_name: { heading: 'LV' },
  vg_name: { heading: 'VG' },
  lv_attr: { heading: 'Attr' },
  lv_size: { heading: 'LSize', size: true },
  seg_count: { heading: '#Seg' },
  devices: { heading: 'Devices' },
  lv_uuid: { heading: 'LV UUID' },
  lv_active: { heading: 'Active' },
  lv_dm_path: { heading: 'DMPath' },
  data_percent: { heading: 'Data%' },
  copy_percent: { heading: 'Cpy%Sync' },
  lv_health_status: { heading: 'Health' },
  lv_tags: { heading: 'LV Tags' },
  origin: { heading: 'Origin' },
  seg_start: { heading: 'Start', size: true },
  seg_size: { heading: 'SSize', size: true },
  segtype: { heading: 'Type' },
  stripes: { heading: '#Str' },
  stripe_size: { heading: 'Stripe', size: true },
  region_size: { heading: 'Region', size: true },
  seg_pe_ranges: { heading: 'PE Ranges' },
  pv_name: { heading: 'PV' },
  pv_fmt: { heading: 'Fmt' },
  pv_attr: { heading: 'Attr' },
  pv_size: { heading: 'PSize', size: true },
  pv_free: { heading: 'PFree', size: true },
  dev_size: { heading: 'DevSize', size: true },
  pe_start: { heading: '1st PE', size: true },
  pv_pe_count: { heading: 'PE' },
  pv_pe_alloc_count: { heading: 'Alloc' },
  pv_uuid: { heading: 'PV UUID' },
  pv_missing: { heading: 'Missing' },
  pv_count: { heading: '#PV' },
  lv_count: { heading: '#LV' },
  snap_count: { heading: '#SN' },
  vg_attr: { heading: 'Attr' },
  vg_size: { heading: 'VSize', size: true },
  vg_free: { heading: 'VFree', size: true },
  vg_uuid: { heading: 'VG UUID' },
  vg_extent_size: { heading: 'Ext', size: true },
  vg_extent_count: { heading: '#Ext' },
  vg_free_count: { heading: 'Free' },
  vg_seqno: { heading: 'Seq' },
  vg_missing_pv_count: { heading: '#Missing' },
};

export const DEFAULTS: Record<Kind, string[]> = {
  lvs: ['lv_name', 'vg_name', 'lv_attr', 'lv_size', 'seg_count', 'devices'],
  pvs: ['pv_name', 'vg_name', 'pv_fmt', 'pv_attr', 'pv_size', 'pv_free'],
  vgs: ['vg_name', 'pv_count', 'lv_count', 'snap_count', 'vg_attr', 'vg_size', 'vg_free'],
  segments: ['lv_name', 'vg_name', 'lv_attr', 'stripes', 'segtype', 'seg_size', 'devices'],
};

/** Extra columns --dm adds to the LV report. */
export const DM_FIELDS = ['lv_active', 'copy_percent', 'lv_dm_path'];

/**
 * `-o` as LVM reads it: a comma list; `+a,b` appends to the defaults; short
 * names without the `lv_`/`pv_`/`vg_` prefix are accepted (`size` → lv_size).
 */
export function chooseFields(kind: Kind, spec: string | undefined, available: string[]): string[] {
  const base = DEFAULTS[kind];
  if (!spec) return base;
  const append = spec.startsWith('+');
  const names = (append ? spec.slice(1) : spec).split(',').map((s) => s.trim()).filter(Boolean);
  const resolved = names.map((n) => resolveField(kind, n, available));
  return append ? [...base, ...resolved] : resolved;
}

/** A field name as LVM accepts it: full, or without its `lv_`/`pv_`/`vg_`/`seg_` prefix. Throws the name when unknown. */
export function resolveField(kind: Kind, n: string, available: string[]): string {
  const prefix = kind === 'pvs' ? 'pv_' : kind === 'vgs' ? 'vg_' : 'lv_';
  if (available.includes(n)) return n;
  if (available.includes(prefix + n)) return prefix + n;
  if (available.includes('seg_' + n)) return 'seg_' + n;
  throw new Error(n);
}
