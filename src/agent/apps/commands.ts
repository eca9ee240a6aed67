// Application hooks and migration tools run as argument vectors, never
// through a shell, with a deadline, and with an environment built from
// scratch: credentials the credentialed agent holds (OS_*, tokens) must never
// reach a child process.
import { execa } from 'execa';

export interface CommandResult {
  code: number;
  /** stdout and stderr interleaved, capped; for the agent's log and one-line errors. */
  output: string;
  timedOut: boolean;
}

export type RunCommand = (argv: string[], opts?: { timeoutMs?: number; cwd?: string }) => Promise<CommandResult>;

/** The only variables a child sees. */
export function childEnv(): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    HOME: '/root',
  };
}

const CAP = 64 * 1024;

/** The default runner; the agent passes its own (it logs and counts external command boundaries). */
export const runCommand: RunCommand = async (argv, opts = {}) => {
  const [file, ...args] = argv;
  const r = await execa(file, args, {
    reject: false,
    all: true,
    env: childEnv(),
    extendEnv: false,
    stdin: 'ignore',
    timeout: opts.timeoutMs,
    forceKillAfterDelay: 5000,
    cwd: opts.cwd,
    maxBuffer: CAP * 16,
  });
  const output = String(r.all ?? '').slice(-CAP);
  return { code: r.timedOut ? -1 : (r.exitCode ?? (r.signal ? 128 : 1)), output, timedOut: Boolean(r.timedOut) };
};

/** One line for a failed command: what ran, how it ended, the last line it printed. */
export function describeFailure(argv: string[], r: CommandResult): string {
  const last = r.output.trim().split('\n').pop()?.slice(0, 300) ?? '';
  const how = r.timedOut ? 'timed out' : `exit ${r.code}`;
  return `'${argv.join(' ').slice(0, 200)}' ${how}${last ? `: ${last}` : ''}`;
}
