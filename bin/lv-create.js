#!/usr/bin/env node
import '../dist/src/metadata-manip/lv-create-main.js';
