// discover: which devices carry dvm PVs, by VG (docs/architecture.md, docs/contracts.md).
import { parser, handledByYargs } from '../lib/cli.js';
import { failed, usageError } from '../lib/errors.js';
import { writeDocument, writeStdout } from '../lib/io.js';
import { isValidName } from '../lib/names.js';
import { dirEntries, discover, systemBlockDevices } from './scan.js';

const USAGE = `Usage: discover [--json] [--dev PATH]... [--dir DIR] [VG]

Scans block devices (and --dev paths, and the files in --dir) for dvm PVs.
With VG: prints that VG's device paths, one per line (for tm).
Without VG, or with --json: a dvm.discover/1 summary of every VG and PV found.
Two devices with the same PV id (a cloned disk) are reported, never chosen between.

Example:
  discover vg0 | xargs tm read vg0
  discover --dir /var/lib/images --json`;

export async function main(argv: string[]): Promise<void> {
  const args = await parser('discover', argv, USAGE)
    .command('$0 [vg]', 'see above')
    .positional('vg', { type: 'string' })
    .option('json', { type: 'boolean', describe: 'print a dvm.discover/1 summary' })
    .option('dev', { type: 'string', describe: 'also look at this device or file (repeatable)' })
    .option('dir', { type: 'string', describe: 'also look at every file in this directory (repeatable)' })
    .parseAsync();
  if (handledByYargs(args as { help?: unknown })) return;
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
  await writeStdout(mine[0].pvs.map((p) => p.path + '\n').join(''));
}
