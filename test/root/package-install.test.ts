// The package installs the way users install Node CLIs: `npm pack`, then
// `npm install -g` of the tarball into a temporary prefix with no network
// (--offline). npm 11 runs no install scripts of a global install, so the
// commands must work from what the tarball carries: the bundle, its code
// cache and the prebuilt addon (prebuilds/linux-x64). Root: a global install
// writes a prefix and the commands it gives are run as a user would (PATH).
// The pack is made from a copy of the work tree, so this repository's own
// dist/ is never rebuilt under the other tests.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers/cli.js';
import { TOOLS } from '../../src/tools.js';
import { ensurePackages } from '../helpers/packages.js';

const work = mkdtempSync(path.join(tmpdir(), 'dvm-pkg-'));
const prefix = path.join(work, 'prefix');
const pkgDir = () => path.join(prefix, 'lib/node_modules/dvm');

/** The environment of a user's shell: no npm_* variables of the npm run that started the tests. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return { ...env, PATH: `${path.join(prefix, 'bin')}:${env.PATH ?? ''}`, ...extra };
}

test.after(() => rmSync(work, { recursive: true, force: true }));

test('npm pack, npm install -g --offline into a prefix, and the commands work', async () => {
  assert.is(process.getuid?.(), 0, 'this tier runs as root');
  // A copy of the work tree (tracked and new files, not what git ignores), with this tree's node_modules.
  const src = path.join(work, 'src');
  const files = (await execa('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT })).stdout.split('\0').filter(Boolean);
  for (const f of files) if (existsSync(path.join(ROOT, f))) cpSync(path.join(ROOT, f), path.join(src, f), { recursive: true });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'));
  const packed = await execa('npm', ['pack', '--offline', '--pack-destination', work], { cwd: src, env: userEnv(), reject: false });
  assert.is(packed.exitCode, 0, `npm pack: ${packed.stderr}`);
  const tarball = readdirSync(work).find((f) => /^dvm-.*\.tgz$/.test(f));
  assert.ok(tarball, 'a dvm-<version>.tgz');
  const listing = (await execa('tar', ['-tzf', path.join(work, tarball!)])).stdout.split('\n');
  for (const want of ['package/dist/dvm.cjs', 'package/dist/dvm.cjs.cache', 'package/dist/src/launch/loader.cjs', 'package/bin/tm.js', 'package/binding.gyp'])
    assert.ok(listing.includes(want), `tarball holds ${want}`);
  assert.ok(listing.some((f) => /^package\/prebuilds\/linux-x64\/.*\.node$/.test(f)), 'tarball holds the linux-x64 prebuild');
  assert.not.ok(listing.some((f) => f.startsWith('package/dist/test/') || f.startsWith('package/src/') || f.startsWith('package/build/')), 'no tests, sources or local builds in the tarball');

  mkdirSync(prefix);
  const installed = await execa('npm', ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, path.join(work, tarball!)], { cwd: work, env: userEnv(), reject: false });
  assert.is(installed.exitCode, 0, `npm install -g: ${installed.stderr}`);
  // No install script ran (npm 11's default for a global install): the prebuild is what loads.
  assert.not.ok(existsSync(path.join(pkgDir(), 'build')), 'no source build in the installed package');
  for (const tool of Object.keys(TOOLS)) assert.ok(existsSync(path.join(prefix, 'bin', tool)), `${tool} is on the prefix's PATH`);

  const pvs = ['a', 'b'].map((n) => path.join(work, `pv-${n}.img`));
  for (const pv of pvs) writeFileSync(pv, ''), truncateSync(pv, 64 << 20);
  const run = (cmd: string, args: string[], input?: string) => execa(cmd, args, { cwd: work, env: userEnv(), input, reject: false });
  const init = await run('tm', ['init', 'pkgvg', ...pvs, '--extent-size', '1M']);
  assert.is(init.exitCode, 0, `tm init: ${init.stderr}`);
  const upd = await run('tm', ['update', 'pkgvg', ...pvs, '--', 'lv-create', 'data', '8M']);
  assert.is(upd.exitCode, 0, `tm update -- lv-create: ${upd.stderr}`);
  assert.match(upd.stdout, /"name":"data"/);
  const envelope = await run('tm', ['read', 'pkgvg', ...pvs]);
  assert.is(envelope.exitCode, 0, `tm read: ${envelope.stderr}`);
  const report = await run('report', ['pkgvg'], envelope.stdout);
  assert.is(report.exitCode, 0, `report: ${report.stderr}`);
  assert.match(report.stdout, /^\s*data\s+pkgvg\s/m);
  // The same through a shell pipe, as the README shows it.
  const piped = await execa('sh', ['-c', `discover --dir ${work} pkgvg | xargs tm read pkgvg | report pkgvg`], { cwd: work, env: userEnv(), reject: false });
  assert.is(piped.exitCode, 0, piped.stderr);
  assert.match(piped.stdout, /^\s*data\s+pkgvg\s/m);
  // Every installed command answers --version with the package's version.
  const version = (await run('tm', ['--version'])).stdout.trim();
  assert.match(version, /^\d+\.\d+\.\d+/);
  for (const tool of Object.keys(TOOLS)) assert.is((await run(tool, ['--version'])).stdout.trim(), version, tool);

  // Manual pages: npm links package.json's directories.man into the prefix's
  // share/man, where `man` finds them through MANPATH, as it would under /usr/local.
  ensurePackages({ 'man-db': '/usr/bin/man', 'groff-base': '/usr/bin/nroff' });
  for (const tool of Object.keys(TOOLS)) {
    assert.ok(listing.includes(`package/dist/man/man1/${tool}.1`), `tarball holds ${tool}.1`);
    assert.ok(existsSync(path.join(prefix, 'share/man/man1', `${tool}.1`)), `${tool}.1 installed into the prefix's share/man`);
  }
  const man = await execa('man', ['-P', 'cat', 'tm'], { cwd: work, env: userEnv({ MANPATH: path.join(prefix, 'share/man'), MANWIDTH: '100' }), reject: false });
  assert.is(man.exitCode, 0, `man tm: ${man.stderr}`);
  assert.match(man.stdout, /^NAME\s*\n\s*tm\b/m, 'man tm shows its NAME section');
  assert.match(man.stdout, /\bupdate\b/, "man tm documents 'tm update'");
  const manHelp = (await run('tm', ['--help'])).stdout;
  assert.ok(manHelp.includes('update'), 'the page and --help come from one source');

  // Completion: the installed script, sourced into bash, completes tm's
  // subcommands and a choice-valued option of report.
  const script = path.join(pkgDir(), 'dist/completion/dvm.bash');
  assert.ok(listing.includes('package/dist/completion/dvm.bash'), 'tarball holds the completion script');
  const complete = (line: string) =>
    execa('bash', ['-c', `. "$1"; read -ra COMP_WORDS <<< "$2"; [[ $2 == *' ' ]] && COMP_WORDS+=(''); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); f=$(complete -p "\${COMP_WORDS[0]}" | sed -E 's/.* -F ([^ ]+) .*/\\1/'); $f; printf '%s\\n' "\${COMPREPLY[@]}"`, 'complete', script, line], { cwd: work, env: userEnv(), reject: false });
  const sub = await complete('tm up');
  assert.is(sub.exitCode, 0, sub.stderr);
  assert.equal(sub.stdout.split('\n'), ['update'], 'tm up<TAB> completes to update');
  for (const tool of Object.keys(TOOLS)) {
    const opts = await complete(`${tool} --he`);
    assert.ok(opts.stdout.split('\n').includes('--help'), `${tool} --he<TAB> offers --help: ${opts.stdout}`);
  }
});

test.run();
