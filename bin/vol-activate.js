#!/usr/bin/env node
import '../dist/src/vol-activate/main.js';
