#!/usr/bin/env node
import '../dist/src/metadata-manip/lv-remove-main.js';
