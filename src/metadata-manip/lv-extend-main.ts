import { mutatorCli, pvOption, strings } from './cli.js';
import { lvExtend } from './lv-resize.js';

mutatorCli({
  tool: 'lv-extend',
  usage: 'lv-extend NAME SIZE|+SIZE [--pv PV...] < vg.json > vg.json\n\nGrow a logical volume to SIZE, or by +SIZE, keeping its layout (stripes, mirror legs).',
  examples: [
    ['lv-extend data +1G < vg.json', 'one GiB more'],
    ['lv-extend data +100%FREE --pv PVID < vg.json', "all of one PV's free space"],
  ],
  positionals: ['NAME', 'SIZE'],
  options: pvOption,
  apply: (vg, [name, size], a) => lvExtend(vg, { name, size, pvs: strings(a.pv) }),
});
