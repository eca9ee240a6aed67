// Running dmexec programs in integration tests.
import { runBin, type RunResult } from './cli.js';
import { PREFIX } from './devices.js';
import type { TableLine } from '../../src/lib/dm-table.js';

export const SCOPE = `DVM-${PREFIX}`;
export const dmname = (s: string) => `${PREFIX}-${s}`;
export const uuid = (s: string) => `${SCOPE}-${s}`;


export function program(steps: unknown[], scope = SCOPE): string {
  return JSON.stringify({ format: 'dvm.dmexec/1', scope, steps });
}

export async function dmexec(steps: unknown[], scope = SCOPE): Promise<RunResult & { doc: any }> {
  const r = await runBin('dmexec', [], { input: program(steps, scope) });
  let doc: any = null;
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    /* no document: the caller asserts on exitCode/stderr */
  }
  return { ...r, doc };
}

/** create + load + resume, each failure removing what was created. */
export function createSteps(name: string, table: TableLine[]): unknown[] {
  const undo = [{ op: 'remove', name }];
  return [
    { op: 'create', name, uuid: `${SCOPE}-${name}` },
    { op: 'load', name, table, on_error: undo },
    { op: 'resume', name, on_error: undo },
  ];
}
