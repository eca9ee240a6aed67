// A manual page per tool and bash completion for all of them, generated at
// build time from each tool's --help (scripts/gen-manpages.mjs): every option
// --help lists is in the page and completes; the pages render with man.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, runBin } from '../helpers/cli.js';
import { ensurePackages } from '../helpers/packages.js';

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; man?: string[] };
const tools = Object.keys(pkg.bin);
const page = (t: string) => path.join(ROOT, 'dist/man/man1', `${t}.1`);
const COMPLETION = path.join(ROOT, 'dist/completion/dvm.bash');

test('package.json installs the pages: "man" names every generated page', () => {
  assert.equal(pkg.man, tools.map((t) => `./dist/man/man1/${t}.1`));
});

test("a tool with a Commands: section (dataset) has them in its page and completes them after its options", () => {
  const roff = readFileSync(page('dataset'), 'utf8');
  assert.match(roff, /^\.SH COMMANDS$/m);
  for (const c of ['create', 'adopt', 'map', 'grow', 'shrink', 'move', 'detach', 'destroy', 'list', 'status']) assert.match(roff, new RegExp(`^${c} `, 'm'), c);
  assert.equal(complete(['dataset', 'cr']), ['create']);
  assert.equal(complete(['dataset', '--store', '/s', 'de']).sort(), ['destroy', 'detach']);
  assert.equal(complete(['dataset', '--store', '/s', 'create', 'x', 'cr']), [], 'no second subcommand');
  assert.equal(complete(['dataset', '--store', '/s', 'node', '']).sort(), ['fence', 'unfence'], 'a two-word command completes its second word');
  assert.equal(complete(['dataset', 'node', 'unf']), ['unfence']);
  assert.equal(complete(['tm', '--he']), ['--help'], 'an option at the subcommand position');
});

test('every tool has a page naming every option its --help lists', async () => {
  for (const t of tools) {
    assert.ok(existsSync(page(t)), `${t}.1`);
    const roff = readFileSync(page(t), 'utf8');
    assert.match(roff, new RegExp(`^\\.TH ${t.toUpperCase()} 1 `, 'm'));
    const help = (await runBin(t, ['--help'])).stdout;
    const opts = [...help.matchAll(/^\s+(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]);
    assert.ok(opts.length >= 2, `${t} --help lists options`);
    for (const o of opts) assert.ok(roff.includes(o.replace(/-/g, '\\-')), `${t}.1 documents ${o}`);
  }
});

test('man renders the pages', () => {
  ensurePackages({ 'man-db': '/usr/bin/man', groff: null });
  for (const t of ['tm', 'report', 'dmexec']) {
    const text = execFileSync('man', ['-l', page(t)], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '100', MAN_KEEP_FORMATTING: '' } });
    assert.match(text, /NAME/);
    assert.match(text, /EXIT STATUS/);
    assert.ok(text.includes(t), t);
  }
});

/** What bash completes for the words (the last one being completed). */
function complete(words: string[]): string[] {
  const fn = `_dvm_${words[0].replace(/-/g, '_')}`;
  const script = `source ${COMPLETION}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; ${fn}; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', script], { encoding: 'utf8', cwd: ROOT }).split('\n').filter(Boolean);
}

test('bash completion: every tool registered; subcommands, options and choices complete', async () => {
  const registered = execFileSync('bash', ['-c', `source ${COMPLETION}; complete -p`], { encoding: 'utf8' });
  for (const t of tools) assert.ok(new RegExp(` ${t.replace(/-/g, '\\-')}$`, 'm').test(registered), `complete for ${t}`);
  assert.equal(complete(['tm', 'up']), ['update']);
  assert.equal(complete(['tm', 're']).sort(), ['read', 'recover', 'remove']);
  assert.equal(complete(['report', '--reportformat', 'json']).sort(), ['json', 'json_std']);
  assert.ok(complete(['report', '--no']).includes('--nosuffix'));
  const help = (await runBin('lv-create', ['--help'])).stdout;
  const opts = [...help.matchAll(/^\s+(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]);
  assert.equal(complete(['lv-create', '--']).sort(), [...new Set(opts)].sort(), 'exactly what --help lists');
});

test.run();
