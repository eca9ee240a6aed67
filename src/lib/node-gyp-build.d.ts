// node-gyp-build ships no types: it takes the package directory and returns the addon's exports.
declare module 'node-gyp-build' {
  const load: (dir: string) => unknown;
  export default load;
}
