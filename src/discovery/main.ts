// discover: which devices carry dvm PVs, by VG (docs/architecture.md, docs/contracts.md).
import { lineParser } from '../lib/cli.js';
import type { CommandLine } from '../lib/args.js';
import { failed, usageError } from '../lib/errors.js';
import { writeDocument, writeStdout } from '../lib/io.js';
import { isValidName } from '../lib/names.js';
import { dirEntries, discover, systemBlockDevices } from './scan.js';

const USAGE = `Usage: discover [--json] [-0] [--dev PATH]... [--dir DIR] [VG]

Scans block devices (and --dev paths, and the files in --dir) for dvm PVs.
With VG: prints that VG's device paths, one per line (for tm).
Without VG, or with --json: a dvm.discover/1 summary of every VG and PV found.
Two devices with the same PV id (a cloned disk) are reported, never chosen between;
two paths to one device (a symlink, a hard link, a second device node) count once.
A path holding whitespace or a control character is refused in the one-per-line
output: use -0 (NUL after each path, for xargs -0 or tm's stdin).

Example:
  discover vg0 | xargs tm read vg0
  discover -0 vg0 | xargs -0 tm read vg0
  discover --dir /var/lib/images --json`;

export const LINE: CommandLine = {
  options: {
    json: { type: 'boolean', describe: 'print a dvm.discover/1 summary' },
    dev: { type: 'string', describe: 'also look at this device or file (repeatable)' },
    dir: { type: 'string', describe: 'also look at every file in this directory (repeatable)' },
    null: { alias: '0', type: 'boolean', describe: 'with VG: end each path with NUL instead of a newline (xargs -0)' },
  },
  positionals: ['[vg]'],
  maxWords: 1,
};

export const { parse, viaYargs } = lineParser('discover', USAGE, LINE, (y) => y.command('$0 [vg]', 'see above').positional('vg', { type: 'string' }));

export async function main(argv: string[]): Promise<void> {
  const args = await parse(argv);
  if (!args) return;
  const vg = args.vg === undefined ? undefined : String(args.vg);
  if (vg !== undefined && !isValidName(vg)) throw usageError('invalid VG name', vg);
  const list = (v: unknown) => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);
  const candidates = [...systemBlockDevices(), ...list(args.dev)];
  for (const d of list(args.dir)) {
    try {
      candidates.push(...dirEntries(String(d)));
    } catch (e) {
      throw failed('directory', String(d), (e as NodeJS.ErrnoException).code ?? String(e));
    }
  }
  const all = discover(candidates);
  if (vg === undefined) return writeDocument(all);
  const mine = all.vgs.filter((v) => v.name === vg);
  if (!mine.length) throw failed('VG', vg, 'not found on any device');
  if (mine.length > 1) throw failed('VG', vg, `two different VGs have this name (ids ${mine.map((v) => v.id).join(', ')})`);
  const ids = new Set(mine[0].pvs.map((p) => p.id));
  const dups = all.duplicates.filter((d) => ids.has(d.pv));
  if (dups.length) throw failed('PV', dups[0].pv, `found on ${dups[0].paths.join(' and ')} (a cloned disk?); remove or relabel one`);
  if (args.json) return writeDocument({ ...all, vgs: mine, duplicates: [] });
  const paths = mine[0].pvs.map((p) => p.path);
  if (args.null) return writeStdout(paths.map((p) => p + '\0').join(''));
  // xargs and tm split lines on whitespace: such a path would be read as another device
  const odd = paths.find((p) => /[\s\x00-\x1f\x7f"'\\]/.test(p));
  if (odd !== undefined) throw failed('device path', odd, "holds whitespace, a quote or a control character; use 'discover -0' with 'xargs -0'");
  await writeStdout(paths.map((p) => p + '\n').join(''));
}
