// report: lvs/pvs/vgs-style tables (or JSON) from a dvm.envelope/1.
import { lineParser } from '../lib/cli.js';
import type { CommandLine } from '../lib/args.js';
import { readDocument, writeDocument, writeStdout, readDocumentFile } from '../lib/io.js';
import { FORMATS } from '../lib/schema.js';
import { invalidInput } from '../lib/errors.js';
import { jsonReport, lvmJsonReport, textReport, type ReportOptions } from './report.js';
import { queryKernel } from '../dmexec/client.js';
import { vgScope } from '../lib/dm-doc.js';
import { type DmDoc, type Envelope } from './model.js';
import type { Kind } from './fields.js';

const USAGE = `Usage: $0 [VG] [--lvs | --pvs | --vgs | --segments] [-o FIELDS] [-S SELECTION] [-O SORT] [--units U] [--nosuffix]
          [--json | --reportformat basic|json|json_std] [--dm] < ENVELOPE

Reports a volume group from the dvm.envelope/1 that \`tm read\` prints, in the
style of lvs, pvs and vgs. --dm adds activation state from the kernel.

Examples:
  discover vg0 | xargs tm read vg0 | report vg0
  tm read vg0 /dev/loop0 | report --segments -o +seg_pe_ranges
  tm read vg0 /dev/loop0 | report --pvs --units m --json
  tm read vg0 /dev/loop0 | report -S 'lv_size>=1g && segtype=striped' -O -lv_size
  tm read vg0 /dev/loop0 | report --reportformat json -o lv_name,lv_size   # as lvs prints it`;

/** `-O -lv_size` as LVM takes it: a sort key may start with '-', which yargs would read as an option. */
function joinSortArgs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if ((argv[i] === '-O' || argv[i] === '--sort') && argv[i + 1]?.startsWith('-') && argv[i + 1] !== '--') out.push(`--sort=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

export const LINE: CommandLine = {
  options: {
    lvs: { type: 'boolean', describe: 'logical volumes (the default)', checked: true },
    pvs: { type: 'boolean', describe: 'physical volumes', checked: true },
    vgs: { type: 'boolean', describe: 'the volume group', checked: true },
    segments: { type: 'boolean', describe: 'LV segments', checked: true },
    o: { alias: 'options', type: 'string', requiresArg: true, describe: 'fields, comma separated; +FIELDS appends to the defaults' },
    units: { type: 'string', default: 'h', requiresArg: true, describe: 'h (human), s, b, k, m, g, t, p, e (extents)' },
    json: { type: 'boolean', describe: 'print dvm.report/1 (sizes as integer sectors)', checked: true },
    reportformat: { type: 'string', choices: ['basic', 'json', 'json_std'], requiresArg: true, describe: "json: the document 'lvs --reportformat json' prints; json_std: the same with numbers as numbers" },
    S: { alias: 'select', type: 'string', requiresArg: true, describe: "rows to show: 'field OP value' joined by && and ||, OP one of = != =~ !~ < <= > >=" },
    O: { alias: 'sort', type: 'string', requiresArg: true, describe: 'sort by these fields, comma separated; -field sorts descending' },
    nosuffix: { type: 'boolean', describe: 'sizes without their unit letter' },
    all: { alias: 'a', type: 'boolean', describe: 'include hidden sub-LVs (mirror images and metadata)' },
    noheadings: { type: 'boolean', describe: 'no heading line' },
    separator: { type: 'string', requiresArg: true, describe: 'separate columns with this string instead of aligning them' },
    dm: { type: 'boolean', describe: 'add activation state from the kernel (runs dmexec --query)' },
    'dm-state': { type: 'string', requiresArg: true, describe: 'read the kernel state from a saved dvm.dm/1 file instead' },
  },
  maxWords: 1,
};

export const { parse, viaYargs } = lineParser('report', USAGE, LINE, (y) =>
  y
    .conflicts({ lvs: ['pvs', 'vgs', 'segments'], pvs: ['vgs', 'segments'], vgs: ['segments'] })
    .conflicts('json', 'reportformat')
    .check((a) => {
      if (a._.length > 1) throw new Error(`unexpected argument '${a._[1]}'`);
      if (!/^[hHsSbBkKmMgGtTpPeE]$/.test(String(a.units))) throw new Error(`invalid --units '${a.units}'`);
      return true;
    }),
);

export async function main(argv: string[]): Promise<void> {
  const args = await parse(joinSortArgs(argv));
  if (!args) return;

  const env = await readDocument<Envelope>([FORMATS.envelope]);
  const vgArg = args._[0] === undefined ? undefined : String(args._[0]);
  if (vgArg !== undefined && vgArg !== env.vg.name) throw invalidInput('wrong volume group', vgArg, `the envelope on stdin is for '${env.vg.name}'`);

  const str = (v: unknown) => (v === undefined ? undefined : String(v));
  const dmState = str(args['dm-state']);
  const dm: DmDoc | null = dmState ? readDocumentFile<DmDoc>(dmState, [FORMATS.dm]) : args.dm ? queryKernel(vgScope(env.vg.id)) : null;

  const kind: Kind = args.pvs ? 'pvs' : args.vgs ? 'vgs' : args.segments ? 'segments' : 'lvs';
  const opts: ReportOptions = { kind, fields: str(args.o), units: String(args.units), all: Boolean(args.all), headings: !args.noheadings, separator: str(args.separator), select: str(args.S), sort: str(args.O), suffix: !args.nosuffix };
  if (args.json) await writeDocument(jsonReport(env, dm, opts));
  else if (args.reportformat === 'json' || args.reportformat === 'json_std') await writeStdout(lvmJsonReport(env, dm, opts, args.reportformat));
  else await writeStdout(textReport(env, dm, opts));
}
