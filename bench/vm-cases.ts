// Activation cases (need device-mapper): filled in with the activation tools.
import type { Row } from './host-cases.js';

export function vmCases(_root: string, _runs: number): Row[] {
  return [];
}
