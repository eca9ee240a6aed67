// The one list of dvm's commands. package.json "bin", the bin/<tool>.js
// shims (scripts/tools.mjs writes both at build) and the multi-call bundle
// (dist/dvm.cjs, scripts/bundle.mjs) all come from here.
//
// Adding a tool is one line: its name and a thunk importing its main module
// (which exports `main(argv)`; no side effects at import). A mutator is
// `mutator('<name>')` once its spec is in src/metadata-manip/specs.ts. The
// import() stays a thunk so that the bundle evaluates only the started
// tool's modules: the agent's TLS and etcd code costs a volume-manager tool
// nothing. `tls: false` marks the tools that make no TLS connection
// (docs/startup.md); a tool without it keeps the user's CA settings.
export type Main = (argv: string[]) => Promise<void>;
export interface Tool {
  load: () => Promise<{ main: Main }>;
  /**
   * false: the tool makes no TLS connection, so its shim starts node without
   * the user's NODE_EXTRA_CA_CERTS (and hands it to child processes). Leave
   * it out for a tool that may talk TLS: it keeps the user's CA settings.
   */
  tls?: false;
}

const mutator = (name: string): Tool => ({
  load: async () => ({ main: (await import('./metadata-manip/index.js')).mutatorMain(name) }),
  tls: false,
});

export const TOOLS = {
  discover: { load: () => import('./discovery/main.js'), tls: false },
  tm: { load: () => import('./transaction-manager/main.js'), tls: false },
  report: { load: () => import('./report/main.js'), tls: false },
  'vol-activate': { load: () => import('./vol-activate/main.js'), tls: false },
  dmactivate: { load: () => import('./dmactivate/main.js'), tls: false },
  dmexec: { load: () => import('./dmexec/main.js'), tls: false },
  'lv-create': mutator('lv-create'),
  'lv-extend': mutator('lv-extend'),
  'lv-reduce': mutator('lv-reduce'),
  'lv-remove': mutator('lv-remove'),
  'lv-rename': mutator('lv-rename'),
  'lv-change': mutator('lv-change'),
  'lv-snapshot': mutator('lv-snapshot'),
  'lv-merge': mutator('lv-merge'),
  'pv-change': mutator('pv-change'),
  dataset: { load: () => import('./agent/cli/dataset-main.js') },
  'dataset-plan': { load: () => import('./agent/plan/main.js') },
  'dataset-local': { load: () => import('./agent/local/main.js') },
  'dataset-apply': { load: () => import('./agent/apply/main.js') },
  'dataset-volumes': { load: () => import('./agent/cli/volumes-main.js') },
  'dataset-agent': { load: () => import('./agent/loop/agent-main.js') },
} satisfies Record<string, Tool>;

export type ToolName = keyof typeof TOOLS;
export const isTool = (name: string): name is ToolName => Object.hasOwn(TOOLS, name);
