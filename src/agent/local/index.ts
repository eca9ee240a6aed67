// Local discovery's library API.
export { discoverLocal, wantedOn, type LocalInput } from './discover.js';
