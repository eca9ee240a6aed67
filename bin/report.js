#!/usr/bin/env node
import '../dist/src/report/main.js';
