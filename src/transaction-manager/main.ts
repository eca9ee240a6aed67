// tm: the transaction manager's command line (docs/contracts.md,
// docs/commit-protocol.md). It only parses: the option
// table is options.ts, the commands (locking, output) commands.ts, the
// cores ops.ts.
import { lineParser } from '../lib/cli.js';
import type { CommandLine } from '../lib/args.js';
import { runCommand } from './commands.js';
import { OPTIONS, checkCommand } from './options.js';

const USAGE = `Usage:
  tm init    VG DEV... [--extent-size SIZE] [--metadata-size SIZE] [--force]
  tm read    VG [DEV...] [--seqno N]
  tm verify  VG [DEV...]
  tm recover VG [DEV...] [--sync CMD] [--timeout S]
  tm update  VG [DEV...] [--sync CMD] [--timeout S] -- MUTATOR [ARG...]
  tm history VG [DEV...] [--json]
  tm add     VG NEWDEV... [--dev DEV...] [--force]
  tm remove  VG [PVDEV...] [--dev DEV...] [--missing]
  tm grow-metadata VG [DEV...] [--metadata-size SIZE]

The transaction manager: reads and writes VG metadata on the PVs, atomically.
With no DEV arguments the device paths are read from stdin, one per line.

A generation may take at most half of a PV's metadata ring, so a change that
makes it smaller is always accepted ("metadata area full" otherwise, before
anything is written). grow-metadata is the way out of a full area: it extends
every PV's area up to its data start, and with --metadata-size SIZE first
moves the data start past free extents at the start of each PV (LVs keep
their sectors). Interrupted, it leaves the VG readable: run it again, or
tm recover when verify reports the growth unfinished.

Example:
  tm init vg0 /dev/loop0 /dev/loop1
  discover vg0 | tm update vg0 -- lv-create data 1G
  discover vg0 | xargs tm read vg0`;

/** tm's words and options, for yargs and for quickParse alike. */
export const LINE: CommandLine = { options: OPTIONS, positionals: ['<command>', '<vg>', '[devs..]'] };

export const { parse, viaYargs } = lineParser('tm', USAGE, LINE, (y) =>
  y
    .command('$0 <command> <vg> [devs..]', 'see above')
    .positional('command', { type: 'string' })
    .positional('vg', { type: 'string' })
    .positional('devs', { type: 'string', array: true }),
);

export async function main(argv: string[]): Promise<void> {
  const dd = argv.indexOf('--');
  const own = dd < 0 ? argv : argv.slice(0, dd);
  const args = await parse(own);
  if (!args) return;
  const str = (v: unknown) => (v === undefined ? undefined : String(v));
  await runCommand({
    command: checkCommand(String(args.command)),
    vg: String(args.vg),
    devs: ((args.devs as unknown[] | undefined) ?? []).map(String),
    mutator: dd < 0 ? null : argv.slice(dd + 1),
    extentSize: str(args['extent-size']),
    metadataSize: str(args['metadata-size']),
    force: args.force as boolean | undefined,
    seqno: args.seqno as number | undefined,
    sync: str(args.sync),
    dev: (args.dev as unknown[] | undefined)?.map(String),
    missing: args.missing as boolean | undefined,
    json: args.json as boolean | undefined,
    timeout: str(args.timeout),
    argv,
  });
}
