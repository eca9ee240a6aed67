// dvm.dm/1 (schemas/dm.v1.schema.json): a scope's devices, as vol-activate
// wants them and as `dmexec --query` reports them. The one definition;
// table lines are src/lib/dm-table.ts.
import type { TableLine } from './dm-table.js';

export interface DmDevice {
  name: string;
  uuid: string;
  /** live table; [] when none */
  table: TableLine[];
  read_only?: boolean;
  /** query only */
  inactive_table?: TableLine[] | null;
  suspended?: boolean;
  open_count?: number;
  major?: number;
  minor?: number;
  event_nr?: number;
  status?: TableLine[];
  /** desired state: the LV this device belongs to */
  lv?: string;
}

/** A device as the kernel reports it: every query field present. */
export type KernelDevice = Required<Omit<DmDevice, 'lv'>>;

export interface DmDoc<D extends DmDevice = DmDevice> {
  format: 'dvm.dm/1';
  scope: string;
  kernel?: string;
  devices: D[];
}

/** What `dmexec --query` prints. */
export type KernelState = DmDoc<KernelDevice> & { kernel: string };

/** The scope (dm uuid prefix) a VG's devices carry: dvm.dm/1 in docs/contracts.md. */
export const vgScope = (vgId: string) => `DVM-${vgId}`;
/** dm uuid of an LV's top device, as vol-activate assigns it and report looks it up. */
export const lvUuid = (vgId: string, lvId: string) => `${vgScope(vgId)}-${lvId}`;

/**
 * Whether a dm uuid belongs to a scope. The scope is `DVM-<vg id>` and device
 * uuids are `DVM-<vg id>-<lv id>...`: requiring the '-' after the prefix keeps
 * VG `abcdefgh` from claiming VG `abcdefgh12`'s devices.
 */
export function inScope(uuid: string, scope: string): boolean {
  if (scope === '') return false;
  if (scope.endsWith('-')) return uuid.startsWith(scope);
  return uuid === scope || uuid.startsWith(scope + '-');
}

/** glibc's major()/minor() on a dev_t (st_rdev), exactly, for any size. */
export function splitDev(rdev: number | bigint): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return { major, minor };
}
