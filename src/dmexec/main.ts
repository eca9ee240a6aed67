// dmexec: run a dvm.dmexec/1 program against the kernel, or --query it.
import { lineParser } from '../lib/cli.js';
import type { CommandLine } from '../lib/args.js';
import { readDocument, writeDocument } from '../lib/io.js';
import { FORMATS } from '../lib/schema.js';
import { EXIT } from '../lib/exit-codes.js';
import { ToolError } from '../lib/errors.js';
import { loadNative, type LockMode } from './native.js';
import { DmControl } from './control.js';
import { queryState } from './query.js';
import { dryRun, execute } from './execute.js';
import { checkProgram } from './program.js';
import type { DmProgram } from '../lib/dm-program.js';

const USAGE = `Usage:
  $0 [--dry-run] < PROGRAM.json       run a dvm.dmexec/1 program, print dvm.dmexec-result/1
  $0 --query [--scope PREFIX]         print the kernel's devices as dvm.dm/1

Runs every step with device-mapper ioctls in one memory-locked native call; a
failed step stops the program and runs its rollback: its own on_error steps,
then the undo steps of the completed steps, newest first (exit 1, the result
still printed). Creates and removes /dev/mapper nodes itself.

Example:
  echo '{"format":"dvm.dmexec/1","scope":"DVM-demo","steps":[
    {"op":"create","name":"demo","uuid":"DVM-demo-1"},
    {"op":"load","name":"demo","table":[{"start":0,"length":2048,"target":"zero","params":""}],
     "on_error":[{"op":"remove","name":"demo"}]},
    {"op":"resume","name":"demo","on_error":[{"op":"remove","name":"demo"}]}]}' | dmexec`;

export const LINE: CommandLine = {
  options: {
    query: { type: 'boolean', describe: 'print the current devices as dvm.dm/1 instead of running a program', checked: true },
    scope: { type: 'string', describe: 'with --query: only devices whose dm uuid starts with PREFIX', requiresArg: true },
    'dry-run': { type: 'boolean', describe: 'validate and show the steps, touching nothing', checked: true },
    lock: { type: 'string', choices: ['ranges', 'mlockall'], default: 'ranges', describe: 'lock only what the critical section touches, or everything (see src/dmexec/LOCKING.md)' },
  },
  maxWords: 0,
};

export const { parse, viaYargs } = lineParser('dmexec', USAGE, LINE, (y) =>
  y.conflicts('query', 'dry-run').check((a) => {
    if (a.scope !== undefined && !a.query) throw new Error('--scope goes with --query');
    if (a._.length) throw new Error(`unexpected argument '${a._[0]}'`);
    return true;
  }),
);

export async function main(argv: string[]): Promise<void> {
  const args = await parse(argv);
  if (!args) return;

  if (args.query) {
    const ctl = DmControl.open(loadNative());
    try {
      await writeDocument(queryState(ctl, args.scope === undefined ? '' : String(args.scope)));
    } finally {
      ctl.close();
    }
    return;
  }

  const program = await readDocument<DmProgram>([FORMATS.dmexec]);
  checkProgram(program, null); // static checks first: bad input is exit 3 wherever we run
  if (args['dry-run']) {
    let ctl: DmControl | null = null;
    try {
      ctl = DmControl.open(loadNative());
    } catch {
      ctl = null; // no kernel here: the static checks still run
    }
    try {
      await writeDocument(dryRun(program, ctl));
    } finally {
      ctl?.close();
    }
    return;
  }
  if (process.getuid?.() !== 0) throw new ToolError(EXIT.ENVIRONMENT, "cannot run program 'stdin': device-mapper needs root (run dmexec as root)");
  const ctl = DmControl.open(loadNative());
  try {
    const result = execute(program, ctl, { lock: args.lock as LockMode });
    await writeDocument(result);
    if (!result.ok) {
      const bad = result.steps.find((s) => !s.ok && !s.recovery)!;
      const rec = result.recovery.ran ? `; recovery ${result.recovery.ok ? 'succeeded' : 'FAILED'}` : '';
      // The result document above is the report; the exit code and this line say it failed.
      throw new ToolError(EXIT.FAILED, `step ${bad.index} (${bad.op}) failed '${bad.name}': ${bad.error}${rec}`);
    }
  } finally {
    ctl.close();
  }
}
