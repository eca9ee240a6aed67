import { mutatorCli } from './cli.js';
import { lvRename } from './lv-admin.js';

mutatorCli({
  tool: 'lv-rename',
  usage: 'lv-rename OLD NEW < vg.json > vg.json\n\nRename a logical volume (its mirror sub-LVs follow).',
  examples: [['lv-rename data archive < vg.json', 'data becomes archive']],
  positionals: ['OLD', 'NEW'],
  apply: (vg, [name, newName]) => lvRename(vg, { name, newName }),
});
