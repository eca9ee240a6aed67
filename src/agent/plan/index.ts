// The planner's library API: `plan(input)` is pure (no I/O, no clock).
export { plan, roundUp, CREDENTIALED, onNode, CREATE_GRACE_MS, GROW_SLACK } from './plan.js';
export { mountPathFor, mountPathProblem, nestedMountProblem } from './paths.js';
export type { PlanInput, PlanNode } from './types.js';
