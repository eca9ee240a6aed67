#!/usr/bin/env node
import '../dist/src/dmexec/main.js';
