// The main of every mutator tool (src/tools.ts: mutator('<name>')): one spec
// from specs.ts, run by the shared thin CLI in cli.ts.
import { mutatorMain as cliFor } from './cli.js';
import { SPECS } from './specs.js';

export function mutatorMain(name: string): (argv: string[]) => Promise<void> {
  if (!Object.hasOwn(SPECS, name)) throw new Error(`no mutator spec '${name}' in src/metadata-manip/specs.ts`);
  return cliFor(SPECS[name]);
}
