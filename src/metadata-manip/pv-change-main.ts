import { usageError } from '../lib/errors.js';
import { mutatorCli } from './cli.js';
import { pvChange } from './pv-change.js';

mutatorCli({
  tool: 'pv-change',
  usage: 'pv-change PV --allocatable y|n < vg.json > vg.json\n\nAllow or forbid new allocations on a PV (named by id). Extents already in use stay where they are.',
  examples: [['pv-change Xy12AbCd34EfGh56 --allocatable n < vg.json', 'stop allocating on that PV']],
  positionals: ['PV'],
  options: (y) => y.option('allocatable', { alias: 'x', type: 'string', description: 'y or n', demandOption: true }),
  apply: (vg, [pv], a) => {
    const v = String(a.allocatable);
    if (v !== 'y' && v !== 'n') throw usageError('invalid option', '--allocatable', `expected y or n, got '${v}'`);
    return pvChange(vg, { pv, allocatable: v === 'y' });
  },
});
