// The multi-call entry (as thin-provisioning-tools' pdata_tools): every
// tool is started by name through here, and only that tool's modules are
// evaluated (src/tools.ts). The bundle (dist/dvm.cjs) is built from this module.
import { runTool } from '../lib/cli.js';
import { EXIT } from '../lib/exit-codes.js';
import { TOOLS, isTool } from '../tools.js';

export function start(tool: string, argv = process.argv.slice(2)): void {
  if (!isTool(tool)) {
    process.stderr.write(`dvm: unknown tool '${tool}': expected one of ${Object.keys(TOOLS).join(', ')}\n`);
    process.exitCode = EXIT.USAGE;
    return;
  }
  runTool(tool, async (args) => (await TOOLS[tool].load()).main(args), argv);
}
