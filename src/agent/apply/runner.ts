// The one command runner. Children get a bare environment (PATH and the C
// locale): credentials in ours never reach mkfs, fsck or an application hook.
import { execa } from 'execa';
import { boundary } from './boundary.js';
import type { Runner } from './types.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function commandRunner(opts: { path?: string } = {}): Runner {
  const env = { PATH: opts.path ?? process.env.PATH ?? DEFAULT_PATH, LC_ALL: 'C' };
  return async (cmd, args, o = {}) => {
    const label = `${cmd} ${args.join(' ')}`;
    boundary(`before ${label}`);
    const r = await execa(cmd, args, {
      reject: false,
      env,
      extendEnv: false,
      input: o.input ?? '',
      timeout: o.timeoutMs,
      stripFinalNewline: false,
    });
    boundary(`after ${label}`);
    const code = typeof r.exitCode === 'number' ? r.exitCode : -1;
    const stderr = String(r.stderr ?? '') || (r.failed && code === -1 ? String(r.shortMessage ?? r.message ?? '') : '');
    return { code, stdout: String(r.stdout ?? ''), stderr };
  };
}

/** The first useful line of a command's diagnostics, for one-line messages. */
export function firstLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  // e2fsprogs and xfsprogs open with a version banner ("resize2fs 1.47.0 (5-Feb-2023)"): not the cause.
  return lines.find((l) => !/^[\w.-]+ \d+\.\d+(\.\d+)*( \([^)]*\))?$/.test(l)) ?? lines[0] ?? '';
}
