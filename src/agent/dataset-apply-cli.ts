// dataset-apply's bundle entry until the one tool registry lands.
import { runTool } from '../lib/cli.js';
import { main } from './apply/main.js';

runTool('dataset-apply', main);
