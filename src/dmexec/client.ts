// dmexec's public face for the other tools' mains: the current dm state of a
// scope, as `dmexec --query --scope` prints it (vol-activate --active,
// dmactivate, report). Asked in-process through the addon (the same code as
// `dmexec --query`): a forked dmexec costs a whole Node start, twice per
// participant phase. DVM_QUERY_FORK=1 forks dmexec instead (for comparison:
// bench/README.md). Only mains import this: src/lib imports no tool folder.
import { builtin } from '../lib/builtins.js';
import { environmentError, causeOf, ToolError } from '../lib/errors.js';
import { parseDocument } from '../lib/io.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { toolShim } from '../lib/paths.js';
import { FORMATS } from '../lib/schema.js';
import type { DmDoc } from '../lib/dm-doc.js';
import { loadNative } from './native.js';
import { DmControl } from './control.js';
import { queryState } from './query.js';

// Only the DVM_QUERY_FORK path forks: child_process (~3 ms to load, with net) waits for it.
const childProcess = builtin<typeof import('node:child_process')>('child_process');

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
    out = childProcess().execFileSync(process.execPath, [toolShim('dmexec'), '--query', '--scope', scope], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20 });
  } catch (e) {
    const err = e as { stderr?: string };
    const line = String(err.stderr ?? '').trim().split('\n').pop() || causeOf(e);
    throw environmentError('cannot query', 'dmexec', line.replace(/^dmexec: /, ''));
  }
  return parseDocument<DmDoc>(out, [FORMATS.dm], 'dmexec --query');
}
