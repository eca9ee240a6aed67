// tm's command and option table: which options each command takes. The
// parser (main.ts) is built from it and every option given to a command it
// does not belong to is a usage error, in one loop.
import { usageError } from '../lib/errors.js';
import type { OptionSpec as ArgSpec } from '../lib/args.js';

export const COMMANDS = ['init', 'read', 'verify', 'recover', 'update', 'history', 'add', 'remove', 'grow-metadata'] as const;
export type Command = (typeof COMMANDS)[number];

interface OptionSpec extends ArgSpec {
  commands: readonly Command[];
}

export const OPTIONS = {
  'extent-size': { type: 'string', describe: 'init: extent size (default 4M)', commands: ['init'] },
  'metadata-size': { type: 'string', describe: 'init: metadata area size (default 8M); grow-metadata: the size to grow to (moving the data start past free extents)', commands: ['init', 'grow-metadata'] },
  force: { type: 'boolean', describe: 'init/add: overwrite existing signatures', commands: ['init', 'add'] },
  seqno: { type: 'number', describe: 'read: an older generation', commands: ['read'] },
  sync: { type: 'string', describe: 'two-phase commit participant, run with sh -c', commands: ['update', 'recover', 'add', 'remove'] },
  dev: { type: 'string', array: true, describe: "add/remove: the VG's current devices", commands: ['add', 'remove'] },
  json: { type: 'boolean', describe: 'history: the dvm.tm-history/1 document instead of the table', commands: ['history'] },
  missing: { type: 'boolean', describe: 'remove: drop absent PVs that hold nothing, record the others as missing', commands: ['remove'] },
  timeout: { type: 'string', describe: "limit in seconds for the mutator, each --sync phase, and the wait for another tm's lock (default: no limit, lock wait 300)", commands: COMMANDS },
} as const satisfies Record<string, OptionSpec>;
export type OptionName = keyof typeof OPTIONS;

/** What the parser gives tm for one invocation. */
export interface TmArgs {
  command: Command;
  vg: string;
  devs: string[];
  /** the words after `--` (update only) */
  mutator: string[] | null;
  extentSize?: string;
  metadataSize?: string;
  force?: boolean;
  seqno?: number;
  sync?: string;
  dev?: string[];
  missing?: boolean;
  json?: boolean;
  /** seconds: the mutator, each --sync phase, the lock wait */
  timeout?: string;
  /** tm's own arguments, the mutator's included: recorded as the commit's origin */
  argv: string[];
}

export function checkCommand(command: string): Command {
  if (!(COMMANDS as readonly string[]).includes(command)) throw usageError('unknown command', command, `expected one of ${COMMANDS.join(', ')}`);
  return command as Command;
}

/** Refuse an option given to a command that does not take it. */
export function checkOptionsFor(command: Command, given: Partial<Record<OptionName, unknown>>): void {
  for (const [name, spec] of Object.entries(OPTIONS) as [OptionName, OptionSpec][]) {
    if (given[name] !== undefined && !spec.commands.includes(command)) throw usageError('option', `--${name}`, `not valid for 'tm ${command}'`);
  }
}
