// The current dm state of a scope, as `dmexec --query --scope` prints it.
// Shared by vol-activate --active and dmactivate; both can take --current FILE instead.
// Asked in-process through the addon (the same code as `dmexec --query`): a
// forked dmexec costs a whole Node start, twice per participant phase.
// DVM_QUERY_FORK=1 forks dmexec as before (for comparison: bench/README.md).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { toolShim } from './paths.js';
import { environmentError, usageError, causeOf, ToolError } from './errors.js';
import { parseDocument } from './io.js';
import { canonicalJson } from './canonical-json.js';
import { loadNative } from '../dmexec/native.js';
import { DmControl } from '../dmexec/control.js';
import { queryState } from '../dmexec/query.js';
import { FORMATS } from './schema.js';
import type { DmDoc } from './dm-types.js';

const DMEXEC = toolShim('dmexec');

/** What `dmexec --query --scope SCOPE` prints, parsed; in-process unless DVM_QUERY_FORK=1. */
export function queryKernel(scope: string): DmDoc {
  if (process.env.DVM_QUERY_FORK === '1') return queryForked(scope);
  let out: string;
  try {
    const ctl = DmControl.open(loadNative());
    try {
      out = canonicalJson(queryState(ctl, scope));
    } finally {
      ctl.close();
    }
  } catch (e) {
    // The same line as the forked dmexec's, without its 'dmexec: ' prefix.
    throw environmentError('cannot query', 'dmexec', e instanceof ToolError ? e.message : `internal error: ${causeOf(e)}`);
  }
  return parseDocument<DmDoc>(out, [FORMATS.dm], 'dmexec --query');
}

/** Run `dmexec --query --scope SCOPE` (our own, with this node) and parse what it prints. */
function queryForked(scope: string): DmDoc {
  let out: string;
  try {
    out = execFileSync(process.execPath, [DMEXEC, '--query', '--scope', scope], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20 });
  } catch (e) {
    const err = e as { stderr?: string };
    const line = String(err.stderr ?? '').trim().split('\n').pop() || causeOf(e);
    throw environmentError('cannot query', 'dmexec', line.replace(/^dmexec: /, ''));
  }
  return parseDocument<DmDoc>(out, [FORMATS.dm], 'dmexec --query');
}

/** A dvm.dm/1 document from a file given with --current. */
export function readCurrentFile(path: string): DmDoc {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw usageError('cannot read', path, causeOf(e));
  }
  return parseDocument<DmDoc>(text, [FORMATS.dm], path);
}
