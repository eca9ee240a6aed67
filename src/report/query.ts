// The one effect of report --dm: ask dmexec for the kernel's view of the VG.
import { fileURLToPath } from 'node:url';
import { failed, ToolError } from '../lib/errors.js';
import { EXIT } from '../lib/exit-codes.js';
import { parseDocument } from '../lib/io.js';
import { FORMATS } from '../lib/schema.js';
import type { DmState } from './model.js';

const DMEXEC = fileURLToPath(new URL('../../../bin/dmexec.js', import.meta.url));

export async function queryDm(scope: string): Promise<DmState> {
  const { execa } = await import('execa'); // only --dm pays for it
  const r = await execa(process.execPath, [DMEXEC, '--query', '--scope', scope], { reject: false });
  if (r.exitCode !== 0) {
    const why = String(r.stderr).trim().replace(/^dmexec: /, '') || `exit ${r.exitCode}`;
    throw new ToolError(r.exitCode === EXIT.ENVIRONMENT ? EXIT.ENVIRONMENT : EXIT.FAILED, `cannot query device-mapper 'dmexec --query': ${why}`);
  }
  try {
    return parseDocument<DmState>(String(r.stdout), [FORMATS.dm], 'dmexec --query');
  } catch (e) {
    throw failed('unexpected output', 'dmexec --query', (e as Error).message);
  }
}
