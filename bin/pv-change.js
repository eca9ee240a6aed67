#!/usr/bin/env node
import '../dist/src/metadata-manip/pv-change-main.js';
