// The memory backend's knobs, settable from code (MemoryKnobs) or from the
// spec string (`memory:NAME?latency=20ms&fail=attach:unavailable:once`).
import type { Limits } from '../../docs.js';
import type { BackendErrorKind } from '../../backend/types.js';
import { usageError } from '../../../lib/errors.js';
import type { Knobs } from '../../backend/knobs.js';

/** Backend calls a failure rule can name. */
export const OPS = [
  'limits', 'list', 'create', 'destroy', 'attach', 'detach', 'resize', 'set-metadata',
  'snapshot', 'remove-snapshot', 'restore-snapshot', 'live-nodes',
  'find', 'verify', 'refresh', 'release',
] as const;
export type MemoryOp = (typeof OPS)[number];

const KINDS: BackendErrorKind[] = ['unknown-volume', 'already-attached', 'not-attached', 'in-use', 'limit-exceeded', 'unsupported', 'unavailable', 'credentials', 'invalid'];

/**
 * Which volumes a fault applies to: `*` every one, `~P` each volume with
 * probability P (drawn once, at create, from the seeded generator), otherwise
 * a volume name (`dvm-<dataset name>`) or id.
 */
export type VolumeSelector = string;

export interface FailureRule {
  /** The call that fails, or '*' for any. */
  op: MemoryOp | '*';
  kind: BackendErrorKind;
  /** How many more times it fires; undefined: every time (subject to probability). */
  times?: number;
  /** Each matching call fails with this probability (seeded); default 1. */
  probability?: number;
  /** Only calls about this volume (name or id). */
  volume?: string;
  /**
   * The call takes effect and then reports the failure (a timeout after the
   * backend did it: create's classic duplicate-volume trap).
   */
  after?: boolean;
}

export interface MemoryKnobs {
  /** Every call waits this long (ms), plus up to `jitterMs` more (seeded). */
  latencyMs: number;
  jitterMs: number;
  /**
   * Eventual consistency: a created volume shows in list() only once
   * `lagListings` listings were made after it AND `lagMs` passed; a destroyed
   * one keeps showing, status 'deleting', as long.
   */
  lagListings: number;
  lagMs: number;
  /** Seed of the one generator behind every random choice. */
  seed: number;
  failures: FailureRule[];
  /** Reads of these volumes' devices fail (EIO). */
  badReads: VolumeSelector[];
  /** These volumes' devices appear only after `lateCalls` findDevice calls and `lateMs` since attach. */
  late: VolumeSelector[];
  lateCalls: number;
  lateMs: number;
  /** These volumes' devices get a new path at every attach (and reboot), `/dev/memory/<node>/vdX`. */
  moved: VolumeSelector[];
  limits: Limits;
}

export const DEFAULT_LIMITS: Limits = {
  allocation_unit: 1 << 20,
  min_size: 1 << 20,
  max_size: 2 ** 40,
  per_node: null,
  max_volumes: null,
  max_bytes: null,
  can_shrink: true,
  can_snapshot: true,
};

export function defaultKnobs(): MemoryKnobs {
  return {
    latencyMs: 0,
    jitterMs: 0,
    lagListings: 0,
    lagMs: 0,
    seed: 1,
    failures: [],
    badReads: [],
    late: [],
    lateCalls: 2,
    lateMs: 0,
    moved: [],
    limits: { ...DEFAULT_LIMITS },
  };
}

/** `op:kind[:once|:xN|:P|:after]...`, comma-separated. */
export function parseFailures(text: string, spec: string): FailureRule[] {
  const bad = (rule: string, cause: string) => usageError('invalid backend', spec, `failure rule '${rule}': ${cause}`);
  return text.split(',').map((rule) => {
    const [op, kind, ...mods] = rule.split(':');
    if (op !== '*' && !(OPS as readonly string[]).includes(op)) throw bad(rule, `unknown call '${op}' (known: *, ${OPS.join(', ')})`);
    if (!KINDS.includes(kind as BackendErrorKind)) throw bad(rule, `unknown error kind '${kind}' (known: ${KINDS.join(', ')})`);
    const r: FailureRule = { op: op as MemoryOp | '*', kind: kind as BackendErrorKind };
    for (const m of mods) {
      if (m === 'once') r.times = 1;
      else if (m === 'after') r.after = true;
      else if (/^x\d+$/.test(m)) r.times = Number(m.slice(1));
      else if (/^(0(\.\d+)?|1(\.0+)?)$/.test(m)) r.probability = Number(m);
      else throw bad(rule, `unknown modifier '${m}' (once, xN, a probability, after)`);
    }
    return r;
  });
}

const selectors = (k: Knobs, key: string): VolumeSelector[] => {
  const v = k.string(key);
  if (v === undefined) return [];
  const list = v.split(',');
  for (const s of list)
    if (!/^(\*|~(0(\.\d+)?|1(\.0+)?)|[A-Za-z0-9][A-Za-z0-9+_.:-]*)$/.test(s))
      throw usageError('invalid backend', k.spec, `knob '${key}': '${s}' is not *, ~P or a volume name or id`);
  return list;
};

/**
 * Reads the spec's knobs:
 *   latency, jitter (ms or s) · lag_listings (N), lag_ms (ms or s) · seed ·
 *   fail=op:kind[:once|:xN|:P|:after],... · bad_reads, late, moved = selectors ·
 *   late_calls (N), late_ms · unit, min, max, max_bytes (sizes) ·
 *   per_node, max_volumes (N or none) · shrink, snapshot (yes/no)
 */
export function knobsFromSpec(k: Knobs): MemoryKnobs {
  const d = defaultKnobs();
  const fail = k.string('fail');
  const knobs: MemoryKnobs = {
    latencyMs: k.ms('latency', d.latencyMs),
    jitterMs: k.ms('jitter', d.jitterMs),
    lagListings: k.int('lag_listings', d.lagListings),
    lagMs: k.ms('lag_ms', d.lagMs),
    seed: k.int('seed', d.seed),
    failures: fail === undefined ? [] : parseFailures(fail, k.spec),
    badReads: selectors(k, 'bad_reads'),
    late: selectors(k, 'late'),
    lateCalls: k.int('late_calls', d.lateCalls),
    lateMs: k.ms('late_ms', d.lateMs),
    moved: selectors(k, 'moved'),
    limits: {
      allocation_unit: k.size('unit', d.limits.allocation_unit),
      min_size: k.size('min', d.limits.min_size),
      max_size: k.size('max', d.limits.max_size),
      per_node: k.intOrNone('per_node', d.limits.per_node, 1),
      max_volumes: k.intOrNone('max_volumes', d.limits.max_volumes),
      max_bytes: k.sizeOrNone('max_bytes', d.limits.max_bytes),
      can_shrink: k.bool('shrink', d.limits.can_shrink),
      can_snapshot: k.bool('snapshot', d.limits.can_snapshot),
    },
  };
  k.done();
  return knobs;
}
