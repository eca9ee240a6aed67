// The planner's application rules, pure. Before a step that takes a dataset
// away from its application (an unmount, which moves, detaches and shrinks
// all begin with), the application is stopped and its data directory
// unbound. Once a dataset is converged where it should be, its application's
// data is brought onto it (migrate) and the application started.
import type { DesiredDataset, LocalDevice, PlanStep, StepAction, Volume } from '../docs.js';
import type { PlanInput } from '../plan/types.js';

export interface AppStep {
  action: Extract<StepAction, 'app-stop' | 'migrate' | 'app-start'>;
  node: string;
  volume: Volume;
  args: Record<string, unknown>;
  expect: string;
  why: string;
}

function deviceOn(input: PlanInput, node: string, volumeId: string): LocalDevice | null {
  return input.nodes[node]?.state?.devices[volumeId] ?? null;
}

const busy = (dev: LocalDevice | null) => Boolean(dev?.app && (dev.app.served || dev.app.started));

/**
 * The application step to run instead of (before) `step`, or once the dataset
 * has converged; null when the application needs nothing.
 */
export function appStepFor(id: string, d: DesiredDataset, step: PlanStep | null, converged: boolean, input: PlanInput): AppStep | null {
  const listed = input.listing?.volumes ?? [];
  if (step && step.action === 'unmount' && step.runs_on.startsWith('node:') && step.volume) {
    const node = step.runs_on.slice('node:'.length);
    const dev = deviceOn(input, node, step.volume);
    const v = listed.find((x) => x.id === step.volume);
    if (v && dev?.app && busy(dev)) {
      return {
        action: 'app-stop',
        node,
        volume: v,
        args: { app: dev.app.name, path: dev.mount?.path ?? null },
        expect: `application '${dev.app.name}' is stopped on node '${node}' and its data directory no longer served from the dataset`,
        why: `stopping application '${dev.app.name}' on node '${node}' before ${step.expect.replace(/^'/, "unmounting '").replace(/ is unmounted.*$/, '')}`,
      };
    }
    return null;
  }
  if (!converged || d.node === null || d.deleted) return null;
  const node = d.node;
  const v = listed.find((x) => (d.volume !== undefined ? x.id === d.volume : x.dataset === id) && x.attached === node);
  if (!v) return null;
  const dev = deviceOn(input, node, v.id);
  if (!dev?.mount || dev.mount.read_only) return null;
  if (dev.app && dev.app.name !== d.app && busy(dev)) {
    return {
      action: 'app-stop',
      node,
      volume: v,
      args: { app: dev.app.name, path: dev.mount.path },
      expect: `application '${dev.app.name}' is stopped on node '${node}'`,
      why: `the dataset is no longer bound to application '${dev.app.name}': stopping it on node '${node}'`,
    };
  }
  if (d.app === undefined) return null;
  const served = dev.app?.name === d.app && dev.app.served;
  if (!served) {
    return {
      action: 'migrate',
      node,
      volume: v,
      args: { app: d.app, path: dev.mount.path },
      expect: `application '${d.app}'s data directory is served from the dataset on node '${node}'`,
      why: `serving application '${d.app}' from the dataset on node '${node}' (stopped first; its data copied if the dataset is empty and the application migrates)`,
    };
  }
  if (!dev.app!.started) {
    return {
      action: 'app-start',
      node,
      volume: v,
      args: { app: d.app, path: dev.mount.path },
      expect: `application '${d.app}' runs on node '${node}'`,
      why: `starting application '${d.app}' on node '${node}'`,
    };
  }
  return null;
}
