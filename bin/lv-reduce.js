#!/usr/bin/env node
import '../dist/src/metadata-manip/lv-reduce-main.js';
