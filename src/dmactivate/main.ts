// dmactivate: the desired dm state on stdin → a dvm.dmexec/1 program on stdout.
import { lineParser } from '../lib/cli.js';
import type { CommandLine } from '../lib/args.js';
import { readDocument, writeDocument, readDocumentFile } from '../lib/io.js';
import { FORMATS } from '../lib/schema.js';
import { queryKernel } from '../dmexec/client.js';
import type { DmDoc } from '../lib/dm-doc.js';
import { planProgram } from './program.js';
import { stageFromPhase } from './phase.js';

const USAGE = `Usage: $0 [--current FILE] [--stage] < DESIRED.json

Plans the dm steps that take the scope's devices from their current state
(dmexec --query --scope, or --current FILE) to the desired one: create and
load bottom-up, suspend top-down, resume bottom-up, remove top-down, every
step with a recovery branch. Converged already: an empty program.
--stage (or DVM_TM_PHASE=prepare) stops at the commit point: new tables
staged, changing devices suspended. DVM_TM_PHASE=commit or abort converges fully.

Example:
  discover vg0 | xargs tm read vg0 | vol-activate --all | dmactivate | dmexec
  vol-activate --all < env.json | dmactivate --current now.json --stage | jq .steps`;

export const LINE: CommandLine = {
  options: {
    current: { type: 'string', describe: 'the current dm state (dvm.dm/1) from FILE instead of asking the kernel', requiresArg: true },
    stage: { type: 'boolean', describe: 'stop at the commit point (as DVM_TM_PHASE=prepare)' },
  },
  maxWords: 0,
};

export const { parse, viaYargs } = lineParser('dmactivate', USAGE, LINE, (y) =>
  y.check((a) => {
    if (a._.length) throw new Error(`unexpected argument '${a._[0]}'`);
    return true;
  }),
);

export async function main(argv: string[]): Promise<void> {
  const args = await parse(argv);
  if (!args) return;
  const stage = stageFromPhase(process.env.DVM_TM_PHASE, Boolean(args.stage));
  const desired = await readDocument<DmDoc>([FORMATS.dm]);
  const current = args.current ? readDocumentFile<DmDoc>(String(args.current), [FORMATS.dm]) : queryKernel(desired.scope);
  await writeDocument(planProgram(current, desired, { stage }));
}
