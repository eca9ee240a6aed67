#!/usr/bin/env node
import '../dist/src/transaction-manager/tm-main.js';
