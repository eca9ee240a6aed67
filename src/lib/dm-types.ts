// The dm documents as vol-activate and dmactivate see them
// (schemas/dm.v1.schema.json, schemas/dmexec.v1.schema.json), with plain numbers.

export interface DmLine {
  start: number;
  length: number;
  target: string;
  params: string;
}

export interface DmDevice {
  name: string;
  uuid: string;
  /** live table; [] when none */
  table: DmLine[];
  read_only?: boolean;
  /** query only */
  inactive_table?: DmLine[] | null;
  suspended?: boolean;
  open_count?: number;
  major?: number;
  minor?: number;
  event_nr?: number;
  status?: DmLine[];
  /** desired state: the LV this device belongs to */
  lv?: string;
}

export interface DmDoc {
  format: 'dvm.dm/1';
  scope: string;
  kernel?: string;
  devices: DmDevice[];
}

export type DmOp = 'create' | 'load' | 'suspend' | 'resume' | 'clear' | 'remove' | 'rename' | 'message' | 'mknod';

export interface DmStep {
  op: DmOp;
  name: string;
  uuid?: string;
  table?: DmLine[];
  read_only?: boolean;
  noflush?: boolean;
  skip_lockfs?: boolean;
  retries?: number;
  deferred?: boolean;
  new_name?: string;
  sector?: number;
  message?: string;
  on_error?: DmStep[];
  /** the inverse of this step alone, run in a rollback after a later step fails (dvm.dmexec/1) */
  undo?: DmStep[];
}

export interface DmProgram {
  format: 'dvm.dmexec/1';
  scope: string;
  steps: DmStep[];
}

export { DM_REF_PREFIX } from './dm-table.js';

/**
 * Whether a dm uuid belongs to a scope. The scope is `DVM-<vg id>` and device
 * uuids are `DVM-<vg id>-<lv id>...`: requiring the '-' after the prefix keeps
 * VG `abcdefgh` from claiming VG `abcdefgh12`'s devices.
 */
/** The scope (dm uuid prefix) a VG's devices carry: dvm.dm/1 in docs/contracts.md. */
export const vgScope = (vgId: string) => `DVM-${vgId}`;
/** dm uuid of an LV's top device, as vol-activate assigns it and report looks it up. */
export const lvUuid = (vgId: string, lvId: string) => `${vgScope(vgId)}-${lvId}`;

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
