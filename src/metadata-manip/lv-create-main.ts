import { intOption, mutatorCli, pvOption, strings } from './cli.js';
import { lvCreate } from './lv-create.js';

mutatorCli({
  tool: 'lv-create',
  usage: 'lv-create NAME SIZE [--stripes N [--stripe-size S]] [--mirrors N] [--pv PV...] < vg.json > vg.json\n\nAdd a logical volume to a dvm.vg/1 document. SIZE: 100 (MiB), 10G, 25e (extents), 100%FREE, 50%VG, 50%PVS.',
  examples: [
    ['lv-create data 10G < vg.json', 'a 10 GiB linear LV'],
    ['lv-create fast 4G --stripes 2 --stripe-size 64k < vg.json', 'striped over two PVs'],
    ['lv-create safe 1G --mirrors 1 < vg.json', 'raid1 with two copies'],
  ],
  positionals: ['NAME', 'SIZE'],
  options: (y) =>
    pvOption(y)
      .option('stripes', { alias: 'i', type: 'string', description: 'number of stripes (distinct PVs)' })
      .option('stripe-size', { alias: 'I', type: 'string', description: 'stripe size, KiB by default (64k)' })
      .option('mirrors', { alias: 'm', type: 'string', description: 'extra copies: raid1 with N+1 legs on distinct PVs' }),
  apply: (vg, [name, size], a) =>
    lvCreate(vg, { name, size, stripes: intOption(a, 'stripes'), stripeSize: a['stripe-size'] as string | undefined, mirrors: intOption(a, 'mirrors'), pvs: strings(a.pv) }),
});
