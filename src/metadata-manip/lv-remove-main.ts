import { mutatorCli } from './cli.js';
import { lvRemove } from './lv-admin.js';

mutatorCli({
  tool: 'lv-remove',
  usage: 'lv-remove NAME < vg.json > vg.json\n\nDrop a logical volume (and its hidden mirror sub-LVs) from the metadata; its extents become free.',
  examples: [['lv-remove data < vg.json', 'remove the LV data']],
  positionals: ['NAME'],
  apply: (vg, [name]) => lvRemove(vg, { name }),
});
