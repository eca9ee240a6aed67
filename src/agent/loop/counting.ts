// Counts backend calls per plane, so that "a converged agent makes no backend
// call beyond its one listing per pass" is something a test can check (the
// agent logs the counts after each pass).
import type { Backend } from '../backend/types.js';

export interface CallCounts {
  control: Record<string, number>;
  node: Record<string, number>;
}

export class CallCounter {
  counts: CallCounts = { control: {}, node: {} };
  /** Returns the counts so far and starts again from zero. */
  take(): CallCounts {
    const c = this.counts;
    this.counts = { control: {}, node: {} };
    return c;
  }
}

function wrap<T extends object>(plane: T, into: () => Record<string, number>): T {
  return new Proxy(plane, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (typeof prop !== 'string' || prop === 'close') return value.bind(target);
      return (...args: unknown[]) => {
        const m = into();
        m[prop] = (m[prop] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** The same backend, counting each call into `counter`. */
export function countingBackend(b: Backend, counter: CallCounter): Backend {
  return {
    control: b.control ? wrap(b.control, () => counter.counts.control) : null,
    node: wrap(b.node, () => counter.counts.node),
    volumeIdPattern: b.volumeIdPattern,
    close: () => b.close(),
  };
}

export const totalCalls = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

export function formatCounts(c: CallCounts): string {
  const part = (r: Record<string, number>) =>
    Object.entries(r)
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || 'none';
  return `control ${part(c.control)}; node ${part(c.node)}`;
}
