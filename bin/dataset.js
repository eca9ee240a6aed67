#!/usr/bin/env node
// One bundle per tool, started with its code cache: src/lib/bundle-loader.cts.
require('../dist/src/lib/bundle-loader.cjs').runBundle(require('node:path').join(__dirname, '../dist/src/agent/dataset.bundle.cjs'));
