// dataset-local's bundle entry until the one tool registry lands.
import { runTool } from '../lib/cli.js';
import { main } from './local/main.js';

runTool('dataset-local', main);
