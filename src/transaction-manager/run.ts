// Running the mutator and the --sync participant as child processes.
import { existsSync } from 'node:fs';
import { toolShim } from '../lib/paths.js';
import { isTool } from '../tools.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { describe, failed, invalidInput, ToolError } from '../lib/errors.js';
import { EXIT, type ExitCode } from '../lib/exit-codes.js';
import type { Envelope, Vg } from '../lib/vg-types.js';
import type { Participant, Phase } from './ops.js';

const lastLine = (s: string) => s.trim().split('\n').pop() ?? '';

/** Our own mutators (bin/<name>.js) run with this node; anything else from PATH. */
export function mutatorCommand(name: string, args: string[]): [string, string[]] {
  if (isTool(name) && existsSync(toolShim(name))) return [process.execPath, [toolShim(name), ...args]];
  return [name, args];
}

/** Exit codes that keep their meaning when tm update reports a mutator's failure; any other becomes 1. */
const PASSED_ON = new Set<number>([EXIT.FAILED, EXIT.USAGE, EXIT.INVALID_INPUT, EXIT.ENVIRONMENT, EXIT.INTERNAL]);

/**
 * A mutator's failure as tm reports it, the same whether it ran in this
 * process or as a child: the mutator's exit code (`tm update vg -- lv-create
 * x --bogus` is a usage error, 2) and its own diagnostic as the cause.
 */
function mutatorFailed(name: string, code: number, cause: string): ToolError {
  return new ToolError(PASSED_ON.has(code) ? (code as ExitCode) : EXIT.FAILED, describe('mutator', name, `${cause}; nothing written`));
}

/**
 * Run the mutator on generation N. Our own mutators run in this process
 * (identical bytes, one Node start saved); anything else, or DVM_TM_FORK=1,
 * is forked. Either way its notes reach stderr and a failure reads the same.
 */
/**
 * Run a child in its own process group, killed with its whole group when it
 * outlives `timeoutS`: a grandchild that keeps the pipe open cannot stall tm.
 */
async function runChild(cmd: string, argv: string[], o: { input: string | Buffer; env?: Record<string, string>; timeoutS?: number; stdout: 'pipe' | 'ignore' }) {
  const { execa } = await import('execa'); // loaded only when needed: it costs ~0.3 s at startup
  const child = execa(cmd, argv, {
    input: o.input,
    env: o.env,
    reject: false,
    stripFinalNewline: false,
    maxBuffer: 512 * 1024 * 1024,
    detached: o.timeoutS !== undefined,
    stdout: o.stdout,
    stderr: o.stdout === 'ignore' ? 'inherit' : 'pipe',
  });
  let timedOut = false;
  const timer =
    o.timeoutS === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // already gone
          }
        }, o.timeoutS * 1000);
  try {
    const r = await child;
    return { r, timedOut };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export function runMutator(name: string, args: string[], timeoutS?: number) {
  return async (vg: Vg): Promise<unknown> => {
    if (!process.env.DVM_TM_FORK && !name.includes('/')) {
      const { runInProcess } = await import('../metadata-manip/index.js');
      let r;
      try {
        r = await runInProcess(name, args, vg);
      } catch (e) {
        if (e instanceof ToolError) throw mutatorFailed(name, e.exitCode, e.message);
        throw e; // a bug: tm's own internal error
      }
      if (r) {
        for (const note of r.notes) process.stderr.write(`${note}\n`);
        return r.doc;
      }
    }
    const [cmd, argv] = mutatorCommand(name, args);
    const { r, timedOut } = await runChild(cmd, argv, { input: canonicalJson(vg), timeoutS, stdout: 'pipe' });
    if (timedOut) throw failed('mutator', name, `timed out after ${timeoutS} s (killed with its process group); nothing written`);
    if (r.failed && r.exitCode === undefined) throw failed('mutator', name, `could not run: ${lastLine(String(r.shortMessage ?? r.message))}`);
    if (r.exitCode !== 0) {
      const line = lastLine(String(r.stderr));
      throw mutatorFailed(name, r.exitCode ?? EXIT.FAILED, (line.startsWith(`${name}: `) ? line.slice(name.length + 2) : line) || `exited with status ${r.exitCode} and no message`);
    }
    if (String(r.stderr)) process.stderr.write(String(r.stderr));
    const text = String(r.stdout);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw invalidInput('mutator output', name, 'not JSON; nothing written');
    }
    return doc;
  };
}

export function shellParticipant(cmd: string, timeoutS?: number): Participant {
  return async (phase: Phase, env: Envelope, envJson?: Buffer) => {
    // the participant's output (dmexec's report) must not mix with tm's envelope on stdout
    const { r, timedOut } = await runChild('sh', ['-c', cmd], { input: envJson ?? canonicalJson(env), env: { DVM_TM_PHASE: phase }, timeoutS, stdout: 'ignore' });
    if (timedOut) throw new Error(`'${cmd}' ${phase} phase timed out after ${timeoutS} s`);
    if (r.exitCode !== 0) throw new Error(`'${cmd}' ${phase} phase exited with status ${r.exitCode ?? r.signal}`);
  };
}
