// Every mutator's arguments and pure change, by tool name: the CLIs
// (*-main.ts) and tm update's in-process path run the same specs.
import { intOption, PV_OPTION, strings, type MutatorSpec } from './cli.js';
import { lvCreate } from './lv-create.js';
import { lvExtend, lvReduce } from './lv-resize.js';
import { lvRemove, lvRename } from './lv-admin.js';
import { pvChange } from './pv-change.js';
import { lvChange } from './lv-change.js';
import { lvMerge, lvSnapshot } from './lv-snapshot.js';
import { usageError } from '../lib/errors.js';

export const SPECS: Record<string, MutatorSpec> = {
  'lv-create': {
    tool: 'lv-create',
    usage: 'lv-create NAME SIZE [--stripes N [--stripe-size S]] [--mirrors N] [--addtag TAG]... [--pv PV...] < vg.json > vg.json\n\nAdd a logical volume to a dvm.vg/1 document, with tags if given (as lvcreate --addtag). SIZE: 100 (MiB), 10G, 25e (extents), 100%FREE, 50%VG, 50%PVS. --pv takes the arguments after it: put it last.',
    examples: [
      ['lv-create data 10G < vg.json', 'a 10 GiB linear LV'],
      ['lv-create fast 4G --stripes 2 --stripe-size 64k < vg.json', 'striped over two PVs'],
      ['lv-create safe 1G --mirrors 1 < vg.json', 'raid1 with two copies'],
    ],
    positionals: ['NAME', 'SIZE'],
    options: {
      ...PV_OPTION,
      stripes: { alias: 'i', type: 'string', describe: 'number of stripes (distinct PVs)' },
      'stripe-size': { alias: 'I', type: 'string', describe: 'stripe size, KiB by default (64k)' },
      mirrors: { alias: 'm', type: 'string', describe: 'extra copies: raid1 with N+1 legs on distinct PVs' },
      addtag: { type: 'string', array: true, requiresArg: true, describe: 'tag the new LV (repeatable)' },
    },
    apply: (vg, [name, size], a) => {
      const created = lvCreate(vg, { name, size, stripes: intOption(a, 'stripes'), stripeSize: a['stripe-size'] as string | undefined, mirrors: intOption(a, 'mirrors'), pvs: strings(a.pv) });
      const tags = strings(a.addtag);
      // One change, one generation: an LV never exists without the tags it was made with.
      return tags?.length ? { vg: lvChange(created.vg, { name, addTags: tags }).vg, notes: created.notes } : created;
    },
  },
  'lv-extend': {
    tool: 'lv-extend',
    usage: 'lv-extend NAME SIZE|+SIZE [--pv PV...] < vg.json > vg.json\n\nGrow a logical volume to SIZE, or by +SIZE, keeping its layout (stripes, mirror legs).',
    examples: [
      ['lv-extend data +1G < vg.json', 'one GiB more'],
      ['lv-extend data +100%FREE --pv PVID < vg.json', "all of one PV's free space"],
    ],
    positionals: ['NAME', 'SIZE'],
    options: PV_OPTION,
    apply: (vg, [name, size], a) => lvExtend(vg, { name, size, pvs: strings(a.pv) }),
  },
  'lv-reduce': {
    tool: 'lv-reduce',
    usage: 'lv-reduce NAME SIZE|-SIZE < vg.json > vg.json\n\nShrink a logical volume to SIZE, or by -SIZE, freeing extents at its end. Shrink the filesystem first.',
    examples: [
      ['lv-reduce data -1G < vg.json', 'one GiB less'],
      ['lv-reduce data 10e < vg.json', 'down to 10 extents'],
    ],
    positionals: ['NAME', 'SIZE'],
    apply: (vg, [name, size]) => lvReduce(vg, { name, size }),
  },
  'lv-remove': {
    tool: 'lv-remove',
    usage: 'lv-remove NAME... < vg.json > vg.json\n\nDrop logical volumes (and their hidden mirror sub-LVs) from the metadata; their extents become free. An origin goes only with all its snapshots named too.',
    examples: [
      ['lv-remove data < vg.json', 'remove the LV data'],
      ['lv-remove data data-snap < vg.json', 'an origin with its snapshot'],
    ],
    positionals: ['NAME'],
    variadic: true,
    apply: (vg, [name, ...more]) => lvRemove(vg, { name, more }),
  },
  'lv-rename': {
    tool: 'lv-rename',
    usage: 'lv-rename OLD NEW < vg.json > vg.json\n\nRename a logical volume (its mirror sub-LVs follow).',
    examples: [['lv-rename data archive < vg.json', 'data becomes archive']],
    positionals: ['OLD', 'NEW'],
    apply: (vg, [name, newName]) => lvRename(vg, { name, newName }),
  },
  'lv-change': {
    tool: 'lv-change',
    usage: 'lv-change NAME [--addtag TAG]... [--deltag TAG]... < vg.json > vg.json\n\nAdd or delete tags of a logical volume, as lvchange does (additions first, then deletions). A tag is 1 to 1024 of A-Z a-z 0-9 _ + . - / = ! : & # (a leading @ is dropped); report -o +lv_tags shows them.',
    examples: [
      ['lv-change data --addtag backup --addtag tier=fast < vg.json', 'two tags on data'],
      ['lv-change data --deltag backup < vg.json', 'take one off'],
    ],
    positionals: ['NAME'],
    options: {
      addtag: { type: 'string', array: true, requiresArg: true, describe: 'add this tag (repeatable)' },
      deltag: { type: 'string', array: true, requiresArg: true, describe: 'delete this tag (repeatable)' },
    },
    apply: (vg, [name], a) => lvChange(vg, { name, addTags: strings(a.addtag), delTags: strings(a.deltag) }),
  },
  'lv-snapshot': {
    tool: 'lv-snapshot',
    usage: 'lv-snapshot ORIGIN NAME SIZE [--chunksize S] [--pv PV...] < vg.json > vg.json\n\nAdd a copy-on-write snapshot NAME of ORIGIN with SIZE of COW space (any lv-create size, or N%ORIGIN), as lvcreate -s. vol-activate maps it with its origin (snapshot-origin, snapshot); tm zeroes the COW header before the commit.',
    examples: [
      ['lv-snapshot data data-snap 1G < vg.json', '1 GiB of COW space'],
      ['lv-snapshot data data-snap 20%ORIGIN < vg.json', 'a fifth of the origin'],
    ],
    positionals: ['ORIGIN', 'NAME', 'SIZE'],
    options: { ...PV_OPTION, chunksize: { alias: 'c', type: 'string', requiresArg: true, describe: 'COW chunk size, KiB by default (4k to 512k; 4k)' } },
    apply: (vg, [origin, name, size], a) => lvSnapshot(vg, { origin, name, size, chunkSize: a.chunksize as string | undefined, pvs: strings(a.pv) }),
  },
  'lv-merge': {
    tool: 'lv-merge',
    usage: 'lv-merge SNAPSHOT < vg.json > vg.json\n\nRoll the origin back to SNAPSHOT, as lvconvert --merge: marks the snapshot merging; the kernel merges when the origin is next activated.',
    examples: [['lv-merge data-snap < vg.json', 'data goes back to data-snap']],
    positionals: ['SNAPSHOT'],
    apply: (vg, [name]) => lvMerge(vg, { name }),
  },
  'pv-change': {
    tool: 'pv-change',
    usage: 'pv-change PV --allocatable y|n < vg.json > vg.json\n\nAllow or forbid new allocations on a PV (named by id). Extents already in use stay where they are.',
    examples: [['pv-change Xy12AbCd34EfGh56 --allocatable n < vg.json', 'stop allocating on that PV']],
    positionals: ['PV'],
    options: { allocatable: { alias: 'x', type: 'string', describe: 'y or n', demandOption: true } },
    apply: (vg, [pv], a) => {
      const v = String(a.allocatable);
      if (v !== 'y' && v !== 'n') throw usageError('invalid option', '--allocatable', `expected y or n, got '${v}'`);
      return pvChange(vg, { pv, allocatable: v === 'y' });
    },
  },
};
