// The executor's library API: `apply(plan, effects)` runs this node's steps.
export { apply, applyStep, StepFailed, DATASET_KEY, CLUSTER_KEY } from './apply.js';
export { destructive, GateRefused, type DestructiveKind } from './gate.js';
export { realHost, parseMountinfo, devno, deviceSize, labelIn } from './host.js';
export { commandRunner } from './runner.js';
export { boundary, boundaries, resetBoundaries, withBoundaries } from './boundary.js';
export type { ApplyEffects, Host, MountEntry, Probe, Runner, RunResult } from './types.js';
