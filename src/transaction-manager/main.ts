// tm: the transaction manager's command line (docs/contracts.md, docs/commit-protocol.md).
import { parser, handledByYargs, markCommitted, afterCommit } from '../lib/cli.js';
import { failed, invalidInput, usageError } from '../lib/errors.js';
import { readStdinText, writeDocument, writeStdout } from '../lib/io.js';
import { parseAbsoluteSize } from '../lib/units.js';
import { isValidName } from '../lib/names.js';
import { DEFAULT_LOCK_WAIT_S, closeAll, openLocked } from './lock.js';
import { add, envelopeJson, history, init, read, recover, remove, updateWithJson, verify } from './ops.js';
import { runMutator, shellParticipant } from './run.js';
import { commitTime, historyTable, originNow } from './origin.js';
import { shrinkProblems, type VgState } from './state.js';

const USAGE = `Usage:
  tm init    VG DEV... [--extent-size SIZE] [--metadata-size SIZE] [--force]
  tm read    VG [DEV...] [--seqno N]
  tm verify  VG [DEV...]
  tm recover VG [DEV...] [--sync CMD] [--timeout S]
  tm update  VG [DEV...] [--sync CMD] [--timeout S] -- MUTATOR [ARG...]
  tm history VG [DEV...] [--json]
  tm add     VG NEWDEV... [--dev DEV...] [--force]
  tm remove  VG [PVDEV...] [--dev DEV...] [--missing]

The transaction manager: reads and writes VG metadata on the PVs, atomically.
With no DEV arguments the device paths are read from stdin, one per line.

Example:
  tm init vg0 /dev/loop0 /dev/loop1
  discover vg0 | tm update vg0 -- lv-create data 1G
  discover vg0 | xargs tm read vg0`;

const COMMANDS = ['init', 'read', 'verify', 'recover', 'update', 'history', 'add', 'remove'] as const;
type Command = (typeof COMMANDS)[number];

/**
 * Device paths from stdin: one per line, or NUL-terminated when the input holds
 * a NUL (`discover -0`: any path then works); anything else is invalid input.
 */
async function stdinDevices(): Promise<string[]> {
  const text = await readStdinText();
  if (text.includes('\0')) {
    const paths = text.split('\0').filter((p, i, all) => p !== '' || i < all.length - 1);
    if (!paths.length || paths.some((p) => p === '')) throw invalidInput('invalid input', 'stdin', 'an empty path in NUL-separated input');
    return paths;
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (!lines.length) throw invalidInput('invalid input', 'stdin', 'no device paths (expected one per line, e.g. from discover)');
  lines.forEach((l, i) => {
    if (/[\s"{}[\]]/.test(l) || l.startsWith('-')) throw invalidInput('invalid input', 'stdin', `line ${i + 1} is not a device path`);
  });
  return lines;
}

function warn(st: VgState): void {
  const notes = st.issues.map((i) => `${i.path}: ${i.text}`);
  if (st.missing.length) notes.push(`missing PV ${st.missing.join(', ')}`);
  if (st.doc) notes.push(...shrinkProblems(st));
  if (notes.length) process.stderr.write(`tm: warning: VG '${st.vgName}': ${notes.join('; ')} (see 'tm verify', 'tm recover')\n`);
}

/** Exit 0 means committed: after the commit, failures are warnings naming the generation. */
function commitHooks(vg: string) {
  return {
    onCommit: (seqno: number) => markCommitted(`VG '${vg}' generation ${seqno} is committed`),
    onWarning: (text: string) => process.stderr.write(afterCommit('tm', text)),
  };
}

export async function main(argv: string[]): Promise<void> {
  const dd = argv.indexOf('--');
  const own = dd < 0 ? argv : argv.slice(0, dd);
  const mutator = dd < 0 ? null : argv.slice(dd + 1);
  const args = await parser('tm', own, USAGE)
    .command('$0 <command> <vg> [devs..]', 'see above')
    .positional('command', { type: 'string' })
    .positional('vg', { type: 'string' })
    .positional('devs', { type: 'string', array: true })
    .option('extent-size', { type: 'string', describe: 'init: extent size (default 4M)' })
    .option('metadata-size', { type: 'string', describe: 'init: metadata area size (default 8M)' })
    .option('force', { type: 'boolean', describe: 'init/add: overwrite existing signatures' })
    .option('seqno', { type: 'number', describe: 'read: an older generation' })
    .option('sync', { type: 'string', describe: 'two-phase commit participant, run with sh -c' })
    .option('dev', { type: 'string', array: true, describe: 'add/remove: the VG\'s current devices' })
    .option('json', { type: 'boolean', describe: 'history: the dvm.tm-history/1 document instead of the table' })
    .option('missing', { type: 'boolean', describe: 'remove: drop absent PVs that hold nothing, record the others as missing' })
    .option('timeout', { type: 'string', describe: 'limit in seconds for the mutator, each --sync phase, and the wait for another tm\'s lock (default: no limit, lock wait 300)' })
    .parseAsync();
  if (handledByYargs(args as { help?: unknown })) return;
  const cmd = String(args.command) as Command;
  if (!COMMANDS.includes(cmd)) throw usageError('unknown command', cmd, `expected one of ${COMMANDS.join(', ')}`);
  const vg = String(args.vg);
  if (!isValidName(vg)) throw usageError('invalid VG name', vg);
  const devArgs = (args.devs ?? []).map(String);
  if (cmd === 'update' && (!mutator || !mutator.length)) throw usageError('update', vg, "needs '-- MUTATOR [ARG...]'");
  if (cmd !== 'update' && mutator) throw usageError(cmd, vg, "takes no '-- MUTATOR'");
  const only = (ok: Command[], name: string, present: unknown) => {
    if (present !== undefined && !ok.includes(cmd)) throw usageError('option', `--${name}`, `not valid for 'tm ${cmd}'`);
  };
  only(['init'], 'extent-size', args['extent-size']);
  only(['init'], 'metadata-size', args['metadata-size']);
  only(['init', 'add'], 'force', args.force);
  only(['read'], 'seqno', args.seqno);
  only(['update', 'recover', 'add', 'remove'], 'sync', args.sync);
  only(['add', 'remove'], 'dev', args.dev);
  only(['remove'], 'missing', args.missing);
  only(['history'], 'json', args.json);
  const origin = originNow(argv, commitTime());
  if (args.seqno !== undefined && (!Number.isSafeInteger(args.seqno) || args.seqno < 1)) throw usageError('invalid seqno', String(args.seqno));
  let timeout: number | undefined;
  if (args.timeout !== undefined) {
    timeout = Number(args.timeout);
    if (!/^\d+(\.\d+)?$/.test(String(args.timeout)) || !(timeout > 0) || timeout > 86400 * 365) throw usageError('invalid option', '--timeout', `expected seconds, got '${String(args.timeout)}'`);
  }
  const lockWait = timeout ?? DEFAULT_LOCK_WAIT_S;
  const sync = args.sync !== undefined ? shellParticipant(String(args.sync), timeout) : undefined;

  if (cmd === 'init') {
    if (!devArgs.length) throw usageError('init', vg, 'needs at least one device');
    const extentSize = args['extent-size'] !== undefined ? parseAbsoluteSize(String(args['extent-size'])) : undefined;
    const metadataSize = args['metadata-size'] !== undefined ? parseAbsoluteSize(String(args['metadata-size'])) * 512 : undefined;
    const devs = openLocked(devArgs, 'ex', lockWait);
    try {
      const env = init(vg, devs, { extentSize, metadataSize, force: Boolean(args.force), origin });
      markCommitted(`VG '${vg}' generation 1 is committed`);
      await writeDocument(env);
    } finally {
      closeAll(devs);
    }
    return;
  }
  if (cmd === 'add' || cmd === 'remove') {
    const named = devArgs;
    if (cmd === 'add' && !named.length) throw usageError('add', vg, 'needs at least one new device');
    if (cmd === 'remove' && !named.length && !args.missing) throw usageError('remove', vg, 'needs a PV device or --missing');
    const others = args.dev?.length ? args.dev.map(String) : await stdinDevices();
    const rest = others.filter((p) => !named.includes(p));
    const devs = openLocked([...rest, ...named], 'ex', lockWait);
    try {
      const cur = devs.slice(0, rest.length);
      const named2 = devs.slice(rest.length);
      const hooks = commitHooks(vg);
      const env = cmd === 'add' ? await add(vg, cur, named2, { force: Boolean(args.force), sync, origin, ...hooks }) : await remove(vg, cur, named2, { missing: Boolean(args.missing), sync, origin, ...hooks });
      await writeDocument(env);
    } finally {
      closeAll(devs);
    }
    return;
  }
  const paths = devArgs.length ? devArgs : await stdinDevices();
  const devs = openLocked(paths, cmd === 'read' || cmd === 'history' || cmd === 'verify' ? 'sh' : 'ex', lockWait);
  try {
    switch (cmd) {
      case 'read': {
        const { env, st, json } = read(vg, devs, args.seqno);
        warn(st);
        await writeStdout(envelopeJson(env, json));
        return;
      }
      case 'verify': {
        const { problems } = verify(vg, devs);
        if (problems.length) throw failed('verify', vg, `${problems.length} problem${problems.length > 1 ? 's' : ''}: ${problems.join('; ')}; run 'tm recover ${vg}'${problems.some((p) => /PV \S+ is missing/.test(p)) ? ` (a missing PV: replace it, or 'tm remove ${vg} --missing')` : ''}`);
        return;
      }
      case 'history': {
        const doc = history(vg, devs);
        if (args.json) await writeDocument(doc);
        else await writeStdout(Buffer.from(historyTable(doc.generations)));
        return;
      }
      case 'recover': {
        const { env, actions, remaining } = await recover(vg, devs, { sync, origin });
        // exit 0 only when the VG verifies clean afterwards; recover is idempotent, so a retry is safe
        if (remaining.length) throw failed('recover', vg, `could not repair ${remaining.length} problem${remaining.length > 1 ? 's' : ''}: ${remaining.join('; ')}${actions.length ? `; repaired: ${actions.join('; ')}` : ''}`);
        if (actions.length) process.stderr.write(`tm: recover '${vg}': ${actions.join('; ')}\n`);
        await writeDocument(env);
        return;
      }
      case 'update': {
        const [name, ...margs] = mutator!;
        const { env, json, afterCommit: late } = await updateWithJson(vg, devs, runMutator(name, margs, timeout), { sync, origin, description: [name, ...margs].join(' '), ...commitHooks(vg) });
        if (late) process.stderr.write(afterCommit('tm', late));
        await writeStdout(envelopeJson(env, json));
        return;
      }
    }
  } finally {
    closeAll(devs);
  }
}
