// tm's commands, given parsed arguments (options.ts): each opens and locks
// its devices (lock.ts), runs its core (ops.ts) and writes what it prints.
// main.ts only parses.
import { markCommitted, afterCommit } from '../lib/cli.js';
import { failed, invalidInput, usageError } from '../lib/errors.js';
import { readStdinText, writeDocument, writeStdout } from '../lib/io.js';
import { parseAbsoluteSize } from '../lib/units.js';
import { isValidName } from '../lib/names.js';
import { DEFAULT_LOCK_WAIT_S, closeAll, openLocked } from './lock.js';
import { add, envelopeJson, history, init, read, recover, remove, updateWithJson, verify, type Participant } from './ops.js';
import { checkOptionsFor, type TmArgs } from './options.js';
import { growMetadata } from './grow.js';
import { runMutator, shellParticipant } from './run.js';
import { finishingMerges, mergedNow } from './merges.js';
import { commitTime, historyTable, originNow } from './origin.js';
import { shrinkProblems, type VgState } from './state.js';
import type { FileDev } from '../pv-format/device.js';

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

/** The --timeout value in seconds, or undefined (no limit). */
function parseTimeout(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(t > 0) || t > 86400 * 365) throw usageError('invalid option', '--timeout', `expected seconds, got '${v}'`);
  return t;
}

/** Open `paths` under flock (waiting at most `waitSeconds` for another tm), run `body`, close them whatever happens. */
async function withLocked<T>(paths: string[], mode: 'ex' | 'sh', waitSeconds: number, body: (devs: FileDev[]) => Promise<T> | T): Promise<T> {
  const devs = openLocked(paths, mode, waitSeconds);
  try {
    return await body(devs);
  } finally {
    closeAll(devs);
  }
}

/** Check what the parser cannot (names, which options go with which command), then run the command. */
export async function runCommand(a: TmArgs): Promise<void> {
  const { command: cmd, vg, mutator } = a;
  if (!isValidName(vg)) throw usageError('invalid VG name', vg);
  if (cmd === 'update' && (!mutator || !mutator.length)) throw usageError('update', vg, "needs '-- MUTATOR [ARG...]'");
  if (cmd !== 'update' && mutator) throw usageError(cmd, vg, "takes no '-- MUTATOR'");
  checkOptionsFor(cmd, { 'extent-size': a.extentSize, 'metadata-size': a.metadataSize, force: a.force, seqno: a.seqno, sync: a.sync, dev: a.dev, json: a.json, missing: a.missing });
  const origin = originNow(a.argv, commitTime());
  if (a.seqno !== undefined && (!Number.isSafeInteger(a.seqno) || a.seqno < 1)) throw usageError('invalid seqno', String(a.seqno));
  const timeout = parseTimeout(a.timeout);
  const lockWait = timeout ?? DEFAULT_LOCK_WAIT_S;
  const sync: Participant | undefined = a.sync !== undefined ? shellParticipant(a.sync, timeout) : undefined;

  if (cmd === 'init') {
    if (!a.devs.length) throw usageError('init', vg, 'needs at least one device');
    const extentSize = a.extentSize !== undefined ? parseAbsoluteSize(a.extentSize) : undefined;
    const metadataSize = a.metadataSize !== undefined ? parseAbsoluteSize(a.metadataSize) * 512 : undefined;
    await withLocked(a.devs, 'ex', lockWait, (devs) => {
      const env = init(vg, devs, { extentSize, metadataSize, force: Boolean(a.force), origin });
      markCommitted(`VG '${vg}' generation 1 is committed`);
      return writeDocument(env);
    });
    return;
  }
  if (cmd === 'add' || cmd === 'remove') {
    const named = a.devs;
    if (cmd === 'add' && !named.length) throw usageError('add', vg, 'needs at least one new device');
    if (cmd === 'remove' && !named.length && !a.missing) throw usageError('remove', vg, 'needs a PV device or --missing');
    const others = a.dev?.length ? a.dev : await stdinDevices();
    const rest = others.filter((p) => !named.includes(p));
    await withLocked([...rest, ...named], 'ex', lockWait, async (devs) => {
      const cur = devs.slice(0, rest.length);
      const given = devs.slice(rest.length);
      const hooks = commitHooks(vg);
      const env = cmd === 'add' ? await add(vg, cur, given, { force: Boolean(a.force), sync, origin, ...hooks }) : await remove(vg, cur, given, { missing: Boolean(a.missing), sync, origin, ...hooks });
      await writeDocument(env);
    });
    return;
  }
  if (cmd === 'grow-metadata') {
    const metadataSize = a.metadataSize !== undefined ? parseAbsoluteSize(a.metadataSize) * 512 : undefined;
    const paths = a.devs.length ? a.devs : await stdinDevices();
    await withLocked(paths, 'ex', lockWait, async (devs) => {
      const { env, actions } = await growMetadata(vg, devs, { metadataSize, origin, onCommit: commitHooks(vg).onCommit });
      process.stderr.write(`tm: grow-metadata '${vg}': ${actions.join('; ')}\n`);
      await writeDocument(env);
    });
    return;
  }
  const paths = a.devs.length ? a.devs : await stdinDevices();
  const readOnly = cmd === 'read' || cmd === 'history' || cmd === 'verify';
  await withLocked(paths, readOnly ? 'sh' : 'ex', lockWait, async (devs) => {
    switch (cmd) {
      case 'read': {
        const { env, st, json } = read(vg, devs, a.seqno);
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
        if (a.json) await writeDocument(doc);
        else await writeStdout(Buffer.from(historyTable(doc.generations)));
        return;
      }
      case 'recover': {
        const { env, actions, remaining } = await recover(vg, devs, { sync, origin });
        // exit 0 only when the VG verifies clean afterwards; recover is idempotent, so a retry is safe
        if (remaining.length) throw failed('recover', vg, `could not repair ${remaining.length} problem${remaining.length > 1 ? 's' : ''}: ${remaining.join('; ')}${actions.length ? `; repaired: ${actions.join('; ')}` : ''}`);
        if (actions.length) process.stderr.write(`tm: recover '${vg}': ${actions.join('; ')}\n`);
        // With --sync, merges the kernel finished leave the metadata here too (as after an update).
        if (sync && mergedNow(env.vg).size) {
          const next = await updateWithJson(vg, devs, finishingMerges(async (v) => v, (l) => process.stderr.write(`tm: ${l}\n`)), { sync, origin, description: 'snapshot merges finished', ...commitHooks(vg) });
          await writeDocument(next.env);
          return;
        }
        await writeDocument(env);
        return;
      }
      case 'update': {
        const [name, ...margs] = mutator!;
        const mutate = sync ? finishingMerges(runMutator(name, margs, timeout), (l) => process.stderr.write(`tm: ${l}\n`)) : runMutator(name, margs, timeout);
        const { env, json, afterCommit: late } = await updateWithJson(vg, devs, mutate, { sync, origin, description: [name, ...margs].join(' '), ...commitHooks(vg) });
        if (late) process.stderr.write(afterCommit('tm', late));
        await writeStdout(envelopeJson(env, json));
        return;
      }
    }
  });
}
