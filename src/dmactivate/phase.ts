// DVM_TM_PHASE, set by `tm update --sync` / `tm recover --sync` (docs/commit-protocol.md).
import { usageError } from '../lib/errors.js';

/** prepare stages (as --stage); commit and abort converge fully (abort is given the old state). */
export function stageFromPhase(phase: string | undefined, stageFlag: boolean): boolean {
  switch (phase ?? '') {
    case '':
      return stageFlag;
    case 'prepare':
      return true;
    case 'commit':
    case 'abort':
      if (stageFlag) throw usageError('conflicting phase', 'DVM_TM_PHASE', `'${phase}' converges fully; --stage stops at the commit point`);
      return false;
    default:
      throw usageError('unknown phase', 'DVM_TM_PHASE', `'${phase}' (expected prepare, commit or abort)`);
  }
}

