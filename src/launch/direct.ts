// `node dist/src/launch/direct.js TOOL [ARG...]`: a tool from the compiled
// modules, without the bundle or its code cache. Tests compare the two.
import { start } from './dispatch.js';

start(process.argv[2] ?? '', process.argv.slice(3));
