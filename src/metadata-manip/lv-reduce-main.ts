import { mutatorCli } from './cli.js';
import { lvReduce } from './lv-resize.js';

mutatorCli({
  tool: 'lv-reduce',
  usage: 'lv-reduce NAME SIZE|-SIZE < vg.json > vg.json\n\nShrink a logical volume to SIZE, or by -SIZE, freeing extents at its end. Shrink the filesystem first.',
  examples: [
    ['lv-reduce data -1G < vg.json', 'one GiB less'],
    ['lv-reduce data 10e < vg.json', 'down to 10 extents'],
  ],
  positionals: ['NAME', 'SIZE'],
  apply: (vg, [name, size]) => lvReduce(vg, { name, size }),
});
