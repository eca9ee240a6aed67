// Running the mutator and the --sync participant as child processes.
import { existsSync } from 'node:fs';
import { toolShim } from '../lib/paths.js';
import { isTool } from '../tools.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { failed, invalidInput } from '../lib/errors.js';
import { exitCodeFor, messageFor } from '../lib/cli.js';
import type { Envelope, Vg } from '../lib/vg-types.js';
import type { Participant, Phase } from './ops.js';

const lastLine = (s: string) => s.trim().split('\n').pop() ?? '';

/** Our own mutators (bin/<name>.js) run with this node; anything else from PATH. */
export function mutatorCommand(name: string, args: string[]): [string, string[]] {
  if (isTool(name) && existsSync(toolShim(name))) return [process.execPath, [toolShim(name), ...args]];
  return [name, args];
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
      const { runInProcess } = await import('../metadata-manip/in-process.js');
      let r;
      try {
        r = await runInProcess(name, args, vg);
      } catch (e) {
        const line = messageFor(name, e);
        throw failed('mutator', name, `exited with status ${exitCodeFor(e)}: ${line}; nothing written`);
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
    if (r.exitCode !== 0) throw failed('mutator', name, `exited with status ${r.exitCode}: ${lastLine(String(r.stderr)) || 'no message'}; nothing written`);
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
