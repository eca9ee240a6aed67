import { mutatorCli } from './cli.js';
import { SPECS } from './specs.js';

mutatorCli(SPECS['lv-reduce']);
