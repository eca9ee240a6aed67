// quickParse (src/lib/args.ts) against yargs on the same tables: every
// command line it answers, it answers as yargs does; everything yargs must
// judge (help, version, unknown options, checked values, missing words) it
// leaves to yargs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { quickParse, type CommandLine } from '../../src/lib/args.js';
import * as tm from '../../src/transaction-manager/main.js';
import * as discover from '../../src/discovery/main.js';
import * as report from '../../src/report/main.js';
import * as volActivate from '../../src/vol-activate/main.js';
import * as dmactivate from '../../src/dmactivate/main.js';
import * as dmexec from '../../src/dmexec/main.js';
import { SPECS } from '../../src/metadata-manip/specs.js';
import { mutatorLine, mutatorParser, negativesAsWords } from '../../src/metadata-manip/cli.js';

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Every key a tool may read: the options under each of their names, the positionals, the words. */
function keysOf(line: CommandLine): string[] {
  const keys = ['_'];
  for (const [name, o] of Object.entries(line.options)) keys.push(name, camel(name), ...(o.alias ? [o.alias] : []));
  for (const p of line.positionals ?? []) keys.push(p.replace(/^[<[]|[\]>]$/g, '').replace(/\.\.$/, ''));
  return keys;
}

async function agree(what: string, line: CommandLine, viaYargs: (argv: string[]) => Promise<Record<string, unknown> | null>, fast: string[][], slow: string[][]) {
  for (const argv of fast) {
    const q = quickParse(argv, line);
    assert.ok(q, `${what} ${JSON.stringify(argv)}: answered without yargs`);
    const y = await viaYargs(argv);
    assert.ok(y, `${what} ${JSON.stringify(argv)}: yargs parses it too`);
    for (const k of keysOf(line)) assert.equal(q![k], y![k], `${what} ${JSON.stringify(argv)}: '${k}' as yargs gives it`);
  }
  for (const argv of slow) assert.is(quickParse(argv, line), null, `${what} ${JSON.stringify(argv)}: left to yargs`);
}

test('tm: quickParse answers as yargs does, and leaves help, version, unknown options and missing words to it', async () => {
  await agree(
    'tm',
    tm.LINE,
    tm.viaYargs,
    [
      ['update', 'vg0', '/dev/a', '/dev/b'],
      ['read', 'vg0'],
      ['read', '123', '0x10', '1e3'],
      ['read', 'vg0', '--seqno', '3'],
      ['read', 'vg0', '--seqno=7', '/dev/a'],
      ['read', 'vg0', '--seqno'],
      ['init', 'vg0', '/dev/a', '--extent-size', '4M', '--force'],
      ['init', 'vg0', '/dev/a', '--extentSize', '1M', '--metadata-size=8M'],
      ['add', 'vg0', '/dev/c', '--dev', '/dev/a', '--dev', '/dev/b'],
      ['add', 'vg0', '/dev/c', '--dev', '/dev/a', '/dev/b', '--no-force'],
      ['update', 'vg0', '--sync', 'echo x', '--timeout', '5'],
      ['history', 'vg0', '--json'],
      ['remove', 'vg0', '--missing'],
    ],
    [['remove', 'vg0', '--', '/dev/-odd'], ['--help'], ['read', 'vg0', '-h'], ['--version'], [], ['read'], ['read', 'vg0', '--bogus'], ['read', 'vg0', '-x']],
  );
});

test('discover: quickParse answers as yargs does', async () => {
  await agree(
    'discover',
    discover.LINE,
    discover.viaYargs,
    [[], ['vg0'], ['--json'], ['-0', 'vg0'], ['--null', 'vg0'], ['--dev', '/dev/a', '--dev', '/dev/b', 'vg0'], ['--dir', '/x', '--json'], ['--dev=/dev/a'], ['--dev']],
    [['a', 'b'], ['--help'], ['--version'], ['--bogus']],
  );
});

test('report: quickParse answers as yargs does; checked and conflicting options go to yargs', async () => {
  await agree(
    'report',
    report.LINE,
    report.viaYargs,
    [[], ['vg0'], ['--nosuffix', '-a', 'vg0'], ['--noheadings', '--all'], ['--dm'], ['vg0', '--no-nosuffix']],
    [['--units', 'm'], ['-o', 'lv_name'], ['--json'], ['--pvs'], ['--segments'], ['a', 'b'], ['--reportformat', 'json'], ['-S', 'lv_size>1'], ['--help'], ['--bogus'], ['-o']],
  );
});

test('vol-activate, dmactivate, dmexec: quickParse answers as yargs does; conflicting and checked options go to yargs', async () => {
  await agree(
    'vol-activate',
    volActivate.LINE,
    volActivate.viaYargs,
    [[], ['--partial'], ['--no-partial']],
    [['--all'], ['--active'], ['--none'], ['--lv', 'a'], ['--deactivate', 'a'], ['--current', 'f'], ['x'], ['--help'], ['--bogus']],
  );
  await agree('dmactivate', dmactivate.LINE, dmactivate.viaYargs, [[], ['--stage'], ['--no-stage']], [['--current', 'f'], ['x'], ['--version'], ['--bogus']]);
  await agree('dmexec', dmexec.LINE, dmexec.viaYargs, [[]], [['--query'], ['--dry-run'], ['--scope', 'DVM-'], ['--lock', 'mlockall'], ['x'], ['-h'], ['--bogus']]);
});

test('mutators: quickParse answers as yargs does, for every spec', async () => {
  const cases: Record<string, { fast: string[][]; slow: string[][] }> = {
    'lv-create': {
      fast: [['data', '10G'], ['fast', '4G', '--stripes', '2', '--stripe-size', '64k'], ['x', '1G', '-m', '1'], ['x', '1G', '-i', '2', '-I', '8'], ['x', '1G', '--pv', 'a', 'b'], ['x', '010', '--pv', 'a:0-9']],
      slow: [['x', '1G', '--addtag', 't'], ['--help'], ['x', '1G', '--bogus'], ['x', '1G', '--addtag']],
    },
    'lv-extend': { fast: [['data', '+1G'], ['data', '+10%FREE', '--pv', 'p1']], slow: [['data', '-h'], ['data', '+1G', '--stripes', '2']] },
    'lv-reduce': { fast: [negativesAsWords(['data', '-1G']), ['data', '500M']], slow: [['data', '--version']] },
    'lv-remove': { fast: [['a'], ['a', 'b', 'c']], slow: [['a', '--force']] },
    'lv-rename': { fast: [['a', 'b']], slow: [['a', 'b', '--x']] },
    'lv-change': { fast: [['a']], slow: [['a', '--addtag', 't'], ['a', '--deltag', 't']] },
    'lv-snapshot': { fast: [['data', 'snap', '1G'], ['data', 'snap', '1G', '--pv', 'p0']], slow: [['data', 'snap', '1G', '-c', '8k']] },
    'lv-merge': { fast: [['snap']], slow: [['snap', '--now']] },
    'pv-change': { fast: [['pv0', '-x', 'y'], ['pv0', '--allocatable', 'n']], slow: [['pv0'], ['pv0', '--help']] },
  };
  assert.equal(Object.keys(cases).sort(), Object.keys(SPECS).sort(), 'a case for every mutator');
  for (const [tool, c] of Object.entries(cases)) await agree(tool, mutatorLine(SPECS[tool]), mutatorParser(SPECS[tool]).viaYargs, c.fast, c.slow);
});

test.run();
