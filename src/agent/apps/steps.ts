// The executor's application steps. `app-stop` runs before anything takes the
// dataset away from its application (unmount, move, shrink, detach): stop,
// then undo the bind mount. `migrate` stops the application and brings its
// data onto the dataset (copy, verify, switch), resuming whatever an earlier
// pass left. `app-start` runs once the data directory is served from the
// dataset. Commands come from this node's definitions (APPS_DIR), never from
// the store, and run with a deadline through the agent's one runner.
import type { PlanStep } from '../docs.js';
import type { MountEntry, Runner } from '../apply/types.js';
import type { AppSet, AppDefinition } from './definition.js';
import { appProblem } from './definition.js';
import { describeFailure, nextMigrationStep, observeMigration, runMigrationStep, unbind, mountAt } from './migrate.js';
import { clearStarted, copyLockFor, readStarted, writeStarted } from './observe.js';

export interface AppEffects {
  run: Runner;
  apps: AppSet;
  runtimeDir: string;
  mounts: () => Promise<MountEntry[]>;
  now: () => Date;
  log: (line: string) => void;
}

const arg = (step: PlanStep, k: string): string => {
  const v = step.args[k];
  if (typeof v !== 'string' || v === '') throw new Error(`the step has no '${k}'`);
  return v;
};

function definition(fx: AppEffects, name: string): AppDefinition {
  const problem = appProblem(fx.apps, name);
  if (problem) throw new Error(problem);
  return fx.apps.apps.get(name)!;
}

async function hook(fx: AppEffects, def: AppDefinition, which: 'stop' | 'start'): Promise<void> {
  const argv = def[which];
  const r = await fx.run(argv[0], argv.slice(1), { timeoutMs: def.timeoutMs });
  const out = `${r.stdout}${r.stderr}`.trim();
  if (out) for (const line of out.split('\n').slice(-20)) fx.log(`app ${def.name} ${which}: ${line}`);
  if (r.code !== 0) throw new Error(`${which} of application '${def.name}' failed: ${describeFailure(argv, r)}`);
}

export async function appStop(step: PlanStep, fx: AppEffects): Promise<string> {
  const volumeId = step.volume!;
  const name = arg(step, 'app');
  const rec = readStarted(fx.runtimeDir, volumeId);
  if (!fx.apps.apps.has(name)) {
    throw new Error(`application '${name}' is no longer defined on this node: stop it and unmount '${rec?.data_dir ?? 'its data directory'}' by hand`);
  }
  const def = fx.apps.apps.get(name)!;
  await hook(fx, def, 'stop');
  clearStarted(fx.runtimeDir, volumeId);
  await unbind(def, { run: fx.run, now: fx.now, log: fx.log }, await fx.mounts());
  return `application '${name}' stopped; '${def.dataDir}' no longer served from the dataset`;
}

export async function migrate(step: PlanStep, fx: AppEffects): Promise<string> {
  const name = arg(step, 'app');
  const mountPoint = arg(step, 'path');
  const def = definition(fx, name);
  // Stopped first, always: nothing may write the data directory while it is copied or switched.
  await hook(fx, def, 'stop');
  clearStarted(fx.runtimeDir, step.volume!);
  const done: string[] = [];
  for (let i = 0; i < 8; i++) {
    const mounts = await fx.mounts();
    const dm = mountAt(mounts, mountPoint);
    if (!dm || (dm.root ?? '/') !== '/') throw new Error(`the dataset is not mounted at '${mountPoint}'`);
    if (dm.read_only) throw new Error(`the dataset is mounted read-only at '${mountPoint}'; its application's data is not moved onto it`);
    const next = nextMigrationStep(def, observeMigration(def, mountPoint, dm, mounts));
    if (next.kind === 'done') return `'${def.dataDir}' served from the dataset (${done.join(', ') || 'already'})`;
    await runMigrationStep(next, def, mountPoint, { run: fx.run, now: fx.now, log: fx.log, copyLock: copyLockFor(fx.runtimeDir, step.volume!) });
    done.push(next.kind);
  }
  throw new Error(`the data directory of '${name}' did not settle after ${done.join(', ')}`);
}

export async function appStart(step: PlanStep, fx: AppEffects): Promise<string> {
  const name = arg(step, 'app');
  const def = definition(fx, name);
  // Planned only when no start is recorded; an agent killed between a start
  // and its record may have left the application running: stopped first
  // (stop commands must succeed when nothing runs), so one copy serves.
  await hook(fx, def, 'stop');
  await hook(fx, def, 'start');
  writeStarted(fx.runtimeDir, step.volume!, { app: name, data_dir: def.dataDir, started_at: fx.now().toISOString() });
  return `application '${name}' started on the dataset`;
}
