#!/usr/bin/env node
import '../dist/src/metadata-manip/lv-rename-main.js';
