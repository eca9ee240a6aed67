// dataset-plan's bundle entry until the one tool registry lands (a bundle here finds package.json).
import { runTool } from '../lib/cli.js';
import { main } from './plan/main.js';

runTool('dataset-plan', main);
