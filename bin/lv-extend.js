#!/usr/bin/env node
import '../dist/src/metadata-manip/lv-extend-main.js';
