// The mutators' one public face: their registry (SPECS, by tool name), the
// main each mutator tool runs (src/tools.ts: mutator('<name>')), and the
// change as tm update applies it in its own process.
export { SPECS } from './specs.js';
export { mutatorMain } from './mutator-main.js';
export { runInProcess, type InProcessResult } from './in-process.js';
