// The one list of dvm's commands. package.json "bin", the bin/<tool>.js
// shims (scripts/tools.mjs writes both at build) and the multi-call bundle
// (dist/dvm.cjs, scripts/bundle.mjs) all come from here.
//
// Adding a tool is one line: its name and a thunk importing its main module
// (which exports `main(argv)`; no side effects at import). A mutator is
// `mutator('<name>')` once its spec is in src/metadata-manip/specs.ts. The
// import() stays a thunk so that the bundle evaluates only the started
// tool's modules: the agent's TLS and etcd code costs a volume-manager tool
// nothing. `tls: true` marks tools that talk TLS and so keep the user's
// certificate settings at start (docs/startup.md).
export type Main = (argv: string[]) => Promise<void>;
export interface Tool {
  load: () => Promise<{ main: Main }>;
  tls?: boolean;
}

const mutator = (name: string): Tool => ({
  load: async () => ({ main: (await import('./metadata-manip/mutator-main.js')).mutatorMain(name) }),
});

export const TOOLS = {
  discover: { load: () => import('./discovery/main.js') },
  tm: { load: () => import('./transaction-manager/main.js') },
  report: { load: () => import('./report/main.js') },
  'vol-activate': { load: () => import('./vol-activate/main.js') },
  dmactivate: { load: () => import('./dmactivate/main.js') },
  dmexec: { load: () => import('./dmexec/main.js') },
  'lv-create': mutator('lv-create'),
  'lv-extend': mutator('lv-extend'),
  'lv-reduce': mutator('lv-reduce'),
  'lv-remove': mutator('lv-remove'),
  'lv-rename': mutator('lv-rename'),
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
