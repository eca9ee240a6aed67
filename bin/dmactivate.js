#!/usr/bin/env node
import '../dist/src/dmactivate/main.js';
