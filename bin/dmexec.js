#!/usr/bin/env node
// One bundle per tool, started with its code cache: src/lib/bundle-loader.ts.
import { runBundle } from '../dist/src/lib/bundle-loader.js';
runBundle(new URL('../dist/src/dmexec/dmexec.bundle.cjs', import.meta.url));
