// Crash-test boundaries: every external command and every backend call is
// bracketed by `boundary('before ...')` and `boundary('after ...')`. With
// DVM_AGENT_KILL_AT=k the k-th boundary of this process SIGKILLs it (a test
// that kills at every boundary runs k = 1, 2, ... until a run passes them
// all); DVM_AGENT_BOUNDARY_LOG=FILE appends one line per boundary
// (`<k> <label>`) so a test can count them.
import { appendFileSync } from 'node:fs';
import type { Backend, ControlPlane, NodePlane } from './backend/types.js';

let count = 0;
let killAt: number | null | undefined;
let logFile: string | null | undefined;
let killOn: string | null = null;

function settings(): void {
  if (killAt !== undefined) return;
  const k = process.env.DVM_AGENT_KILL_AT;
  killAt = k && /^[1-9][0-9]*$/.test(k) ? Number(k) : null;
  logFile = process.env.DVM_AGENT_BOUNDARY_LOG || null;
  killOn = process.env.DVM_AGENT_KILL_ON || null;
}

/** Marks one boundary; may not return (the kill hook). */
export function boundary(label: string): void {
  settings();
  count++;
  if (logFile) appendFileSync(logFile, `${count} ${label.replace(/\s+/g, ' ')}\n`);
  if ((killAt !== null && count === killAt) || (killOn !== null && label.startsWith(killOn))) process.kill(process.pid, 'SIGKILL');
}

/** How many boundaries this process has passed. */
export const boundaries = () => count;

/** For tests in one process: reset the counter and re-read the environment. */
export function resetBoundaries(): void {
  count = 0;
  killAt = undefined;
  logFile = undefined;
}

function wrap<T extends object>(plane: T, prefix: string): T {
  return new Proxy(plane, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      if (prop === 'close') return value.bind(target);
      return async (...args: unknown[]) => {
        const what = `${prefix}.${prop}${typeof args[0] === 'string' ? ` ${args[0]}` : args[0] && typeof args[0] === 'object' && 'id' in args[0] ? ` ${(args[0] as { id: string }).id}` : ''}`;
        boundary(`before ${what}`);
        const r = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        boundary(`after ${what}`);
        return r;
      };
    },
  });
}

/** The same backend with a boundary before and after each control and node call. */
export function withBoundaries(b: Backend): Backend {
  return {
    control: b.control ? wrap<ControlPlane>(b.control, 'control') : null,
    node: wrap<NodePlane>(b.node, 'node'),
    volumeIdPattern: b.volumeIdPattern,
    close: () => b.close(),
  };
}
