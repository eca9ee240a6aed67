// dvm.dmexec/1 (schemas/dmexec.v1.schema.json): a program of dm steps, as
// dmactivate plans it and dmexec runs it. The one definition; the checks
// made before any ioctl are in src/dmexec/program.ts.
import type { TableLine } from './dm-table.js';

export type DmOp = DmStep['op'];

interface Base {
  name: string;
  /** run when this step fails, before the undo lists of the completed steps */
  on_error?: DmStep[];
  /** this step's own inverse: run, newest first, when a later step fails */
  undo?: DmStep[];
}
export type DmStep =
  | (Base & { op: 'create'; uuid: string; read_only?: boolean })
  | (Base & { op: 'load'; table: TableLine[]; read_only?: boolean })
  | (Base & { op: 'suspend'; noflush?: boolean; skip_lockfs?: boolean })
  | (Base & { op: 'resume' | 'clear' | 'mknod' })
  | (Base & { op: 'remove'; retries?: number; deferred?: boolean })
  | (Base & { op: 'rename'; new_name: string })
  | (Base & { op: 'message'; sector?: number; message: string });

export interface DmProgram {
  format: 'dvm.dmexec/1';
  scope: string;
  steps: DmStep[];
}
