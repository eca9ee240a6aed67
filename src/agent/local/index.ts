// Local discovery's library API.
export { discoverLocal, type LocalInput } from './discover.js';
