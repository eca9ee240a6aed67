// vol-activate: an envelope on stdin → the VG's desired dm state (dvm.dm/1) on stdout.
import { statSync } from 'node:fs';
import { lineParser } from '../lib/cli.js';
import type { CommandLine } from '../lib/args.js';
import { readDocument, writeDocument, readDocumentFile } from '../lib/io.js';
import { FORMATS } from '../lib/schema.js';
import { environmentError, causeOf } from '../lib/errors.js';
import { splitDev } from '../lib/dm-doc.js';
import { queryKernel } from '../dmexec/client.js';
import type { DmDoc } from '../lib/dm-doc.js';
import { desiredState } from './activate.js';
import type { Envelope } from '../lib/vg-types.js';

const USAGE = `Usage: $0 [--all | --active | --none] [--lv NAME...] [--deactivate NAME...] [--partial] < ENVELOPE.json

Turns the VG's LVs into device-mapper tables: linear, striped, raid1 (dm-raid
with metadata sub-LVs), and snapshots as LVM2 maps them (the origin through
snapshot-origin over <lv>-real, each snapshot through snapshot over
<snap>-cow, a merging one through snapshot-merge; an origin and its snapshots
activate and deactivate together). Prints the desired state of ALL the VG's dm devices:
what is not in it, dmactivate removes. The selection starts from every LV
(--all) or from the LVs active now (--active, the default, which asks the
kernel through dmexec --query), adds --lv and takes away --deactivate.

Example:
  discover vg0 | xargs tm read vg0 | vol-activate --all | dmactivate | dmexec
  tm read vg0 /dev/loop0 | vol-activate --deactivate data | dmactivate | dmexec
  discover vg0 | xargs tm read vg0 | vol-activate --none | dmactivate | dmexec     # vgchange -an`;

export const LINE: CommandLine = {
  options: {
    all: { type: 'boolean', describe: 'activate every LV', checked: true },
    active: { type: 'boolean', describe: 'keep active exactly the LVs active now (default)', checked: true },
    none: { type: 'boolean', describe: 'start from no LV: deactivates every LV but those given with --lv (as vgchange -an)', checked: true },
    lv: { type: 'string', array: true, describe: 'also activate these LVs', requiresArg: true },
    deactivate: { type: 'string', array: true, describe: 'deactivate these LVs', requiresArg: true },
    partial: { type: 'boolean', describe: 'map areas on missing PVs to the error target' },
    current: { type: 'string', describe: 'the current dm state (dvm.dm/1) from FILE instead of asking the kernel', requiresArg: true },
  },
  maxWords: 0,
};

export const { parse, viaYargs } = lineParser('vol-activate', USAGE, LINE, (y) =>
  y.conflicts({ all: ['active', 'none'], active: 'none' }).check((a) => {
    if (a._.length) throw new Error(`unexpected argument '${a._[0]}'`);
    return true;
  }),
);

export async function main(argv: string[]): Promise<void> {
  const args = await parse(argv);
  if (!args) return;

  const env = await readDocument<Envelope>([FORMATS.envelope]);
  const doc = desiredState(
    env,
    { all: Boolean(args.all), none: Boolean(args.none), lvs: ((args.lv as unknown[] | undefined) ?? []).map(String), deactivate: ((args.deactivate as unknown[] | undefined) ?? []).map(String), partial: Boolean(args.partial) },
    {
      devOf: (path) => {
        let st;
        try {
          st = statSync(path);
        } catch (e) {
          throw environmentError('PV device', path, causeOf(e));
        }
        if (!st.isBlockDevice()) throw environmentError('PV device', path, 'not a block device (activation needs one: attach a file with losetup)');
        return splitDev(st.rdev);
      },
      current: (scope) => (args.current ? readDocumentFile<DmDoc>(String(args.current), [FORMATS.dm]) : queryKernel(scope)),
    },
  );
  await writeDocument(doc);
}
