#!/usr/bin/env node
import '../dist/src/discovery/discover-main.js';
