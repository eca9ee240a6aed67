// Manual pages and bash completion for every tool, generated at build time
// from the tools' own --help (the one source of their options and usage), so
// they cannot drift from what the tools accept.
//   dist/man/man1/<tool>.1     one page per tool (package.json "bin")
//   dist/completion/dvm.bash   `complete` for every tool
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const tools = Object.keys(pkg.bin).sort();

/** What a tool's --help says, parsed: usage lines, prose, options, subcommands. */
export function parseHelp(tool, text) {
  const lines = text.replace(/\n+$/, '').split('\n');
  const optStart = lines.findIndex((l) => /^Options:\s*$/.test(l));
  const body = optStart < 0 ? lines : lines.slice(0, optStart);
  const options = [];
  for (const l of optStart < 0 ? [] : lines.slice(optStart + 1)) {
    const m = /^\s+(?:(-\w), )?(--[\w-]+)\s{2,}(.*?)(?:\s{2,}(\[.*\]))?\s*$/.exec(l);
    if (m) options.push({ short: m[1] ?? null, long: m[2], text: m[3], tags: m[4] ?? '', choices: /\[choices: ([^\]]*)\]/.exec(m[4] ?? '')?.[1].match(/"[^"]*"/g)?.map((c) => c.slice(1, -1)) ?? [] });
  }
  const usageEnd = body.findIndex((l, i) => i > 0 && l.trim() === '');
  const usageLines = body.slice(0, usageEnd < 0 ? 1 : usageEnd).map((l) => l.replace(/^Usage:\s*/, ''));
  const indent = Math.min(...usageLines.filter((l) => l.trim()).map((l) => /^\s*/.exec(l)[0].length));
  const usage = usageLines.map((l) => l.slice(indent)).filter((l) => l.trim()).join('\n');
  // yargs' own sections (Positionals:, Commands:) are not prose.
  const rest = body.slice(usageEnd < 0 ? 1 : usageEnd);
  const yargsSection = rest.findIndex((l) => /^(Positionals|Commands):\s*$/.test(l));
  const prose = (yargsSection < 0 ? rest : rest.slice(0, yargsSection)).join('\n').trim();
  // A Commands: section (dataset's), up to the next blank-line-separated prose.
  const cmdStart = rest.findIndex((l) => /^Commands:\s*$/.test(l));
  const cmdLines = [];
  if (cmdStart >= 0) for (const l of rest.slice(cmdStart + 1)) { if (l.trim() === '') break; cmdLines.push(l); }
  const after = cmdStart < 0 ? '' : rest.slice(cmdStart + 1 + cmdLines.length).join('\n').trim();
  const commands = cmdLines.join('\n').replace(/^\s{2}/gm, '');
  // Subcommands: `tm init ...`, `tm read ...` in the usage lines, or the Commands: entries.
  const toolRe = tool.replace(/[-]/g, '\\-');
  const fromUsage = [...usage.matchAll(new RegExp(`(?:^|\\n)\\s*${toolRe} ([a-z][a-z-]+)\\b`, 'g'))].map((m) => m[1]);
  const fromCommands = cmdLines.map((l) => new RegExp(`^\\s{2}(?:${toolRe}\\s+)?([a-z][a-z-]+)\\b`).exec(l)?.[1]).filter(Boolean);
  const subcommands = [...new Set([...fromUsage, ...fromCommands])];
  // Two-word commands (dataset's `node fence NODE`): the second word completes after the first.
  const nested = {};
  for (const l of cmdLines) {
    const m = new RegExp(`^\\s{2}(?:${toolRe}\\s+)?([a-z][a-z-]+)\\s+([a-z][a-z-]+)\\b`).exec(l);
    if (m) (nested[m[1]] ??= []).includes(m[2]) || nested[m[1]].push(m[2]);
  }
  return { usage, prose: after ? `${prose}\n\n${after}` : prose, commands, options, subcommands, nested };
}

const roff = (s) => s.replace(/\\/g, '\\e').replace(/^([.'])/gm, '\\&$1').replace(/-/g, '\\-');

export function manPage(tool, help, version) {
  const first = help.prose.split('\n\n')[0].replace(/\s+/g, ' ').trim();
  const summary = (first.split(/(?<=\.)\s/)[0] || pkg.description).replace(/\.$/, '');
  const out = [
    `.TH ${tool.toUpperCase()} 1 "" "dvm ${version}" "dvm manual"`,
    '.SH NAME',
    `${roff(tool)} \\- ${roff(summary)}`,
    '.SH SYNOPSIS',
    '.nf',
    roff(help.usage),
    '.fi',
    '.SH DESCRIPTION',
    '.nf',
    roff(help.prose),
    '.fi',
    ...(help.commands ? ['.SH COMMANDS', '.nf', roff(help.commands), '.fi'] : []),
    '.SH OPTIONS',
  ];
  for (const o of help.options) {
    out.push('.TP', `.B ${roff([o.short, o.long].filter(Boolean).join(', '))}`, roff(`${o.text}${o.tags ? ` ${o.tags}` : ''}`));
  }
  out.push(
    '.SH EXIT STATUS',
    '.TP\n0\nok',
    '.TP\n1\nthe operation ran and failed',
    '.TP\n2\nusage: a bad option or argument',
    '.TP\n3\ninvalid input: not JSON, a schema violation, an unknown format',
    '.TP\n4\nenvironment: not root, no device-mapper, an addon missing',
    '.TP\n70\ninternal error',
    '.SH DIAGNOSTICS',
    roff("One line on standard error, <tool>: <what> '<object>': <cause>, ending with the next step where there is an obvious one; standard output carries data only."),
    '.SH SEE ALSO',
    tools.filter((t) => t !== tool).map((t) => `.BR ${roff(t)} (1)`).join(',\n'),
    '',
  );
  return out.join('\n');
}

export function completion(helps) {
  const fn = (t) => `_dvm_${t.replace(/-/g, '_')}`;
  const out = ['# bash completion for the dvm tools; generated from their --help by scripts/gen-manpages.mjs', ''];
  for (const [tool, h] of helps) {
    const opts = h.options.flatMap((o) => [o.long, ...(o.short ? [o.short] : [])]).join(' ');
    const choices = h.options.filter((o) => o.choices.length).map((o) => `    ${o.long}) COMPREPLY=($(compgen -W '${o.choices.join(' ')}' -- "$cur")); return ;;`);
    out.push(
      `${fn(tool)}() {`,
      '  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}',
      ...(choices.length ? ['  case $prev in', ...choices, '  esac'] : []),
      // The first word that is neither an option nor an option's value is the
      // subcommand (dataset takes --store S before it); until one is typed, offer them.
      ...(h.subcommands.length
        ? [
            `  local subs=' ${h.subcommands.join(' ')} ' w i`,
            '  for ((i = 1; i < COMP_CWORD; i++)); do w=${COMP_WORDS[i]}; [[ $subs == *" $w "* ]] && break; done',
            `  if (( i == COMP_CWORD )) && [[ $cur != -* && $prev != --* ]]; then COMPREPLY=($(compgen -W "$subs" -- "$cur")); return; fi`,
            ...Object.entries(h.nested ?? {}).map(([w, next]) => `  if (( i + 1 == COMP_CWORD )) && [[ \${COMP_WORDS[i]} == ${w} ]]; then COMPREPLY=($(compgen -W '${next.join(' ')}' -- "$cur")); return; fi`),
          ]
        : []),
      `  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W '${opts}' -- "$cur")); return; fi`,
      '  COMPREPLY=($(compgen -f -- "$cur"))',
      '}',
      `complete -o filenames -F ${fn(tool)} ${tool}`,
      '',
    );
  }
  return out.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const helps = tools.map((t) => [t, parseHelp(t, execFileSync(process.execPath, [path.join(root, 'bin', `${t}.js`), '--help'], { encoding: 'utf8' }))]);
  mkdirSync(path.join(root, 'dist/man/man1'), { recursive: true });
  mkdirSync(path.join(root, 'dist/completion'), { recursive: true });
  for (const [t, h] of helps) writeFileSync(path.join(root, 'dist/man/man1', `${t}.1`), manPage(t, h, pkg.version));
  writeFileSync(path.join(root, 'dist/completion/dvm.bash'), completion(helps));
  console.log(`manuals: ${helps.length} pages in dist/man/man1, completion in dist/completion/dvm.bash`);
}
