// The executor: runs this node's steps of one plan, each once, and says what
// happened. Destructive steps act only through the gate (gate.ts); control
// calls only fenced by the credentialed election; markers are written to the
// store before the operation they guard and records after it. The next pass
// rediscovers and replans, so a failed or killed step is simply derived again.
import type { DatasetStatus, Filesystem, PlanDoc, PlanStep, ResultDoc, StepResult, Volume } from '../docs.js';
import { isBackendError } from '../backend/types.js';
import type { ApplyEffects } from './types.js';
import { destructive, GateRefused } from './gate.js';
import { mountPathProblem } from '../plan/paths.js';
import { appStart, appStop, migrate } from '../apps/steps.js';

/** A step that could not do its work (not a crash): its message goes to the dataset's status. */
export class StepFailed extends Error {
  constructor(message: string, readonly kind: string | null = null) {
    super(message);
    this.name = 'StepFailed';
  }
}

export async function apply(plan: PlanDoc, fx: ApplyEffects): Promise<ResultDoc> {
  const results: StepResult[] = [];
  for (const step of plan.steps) results.push(await applyStep(step, fx));
  return { format: 'dvm.dataset-result/1', node: fx.node, results };
}

const oneLine = (s: string) => s.replace(/[\r\n\0]+/g, ' ').slice(0, 4000);

export async function applyStep(step: PlanStep, fx: ApplyEffects): Promise<StepResult> {
  const started = fx.now();
  const base = { dataset: step.dataset, action: step.action, volume: step.volume, started_at: started.toISOString() };
  const elapsed = () => Math.max(0, fx.now().getTime() - started.getTime());
  try {
    const mine = step.runs_on === 'credentialed' ? fx.leadership !== null && fx.backend.control !== null : step.runs_on === `node:${fx.node}`;
    if (!mine) throw new StepFailed(`step runs on ${step.runs_on}, not on this agent (node '${fx.node}'${fx.leadership ? ', credentialed' : ''})`);
    const message = await run(step, fx);
    fx.log?.(`${step.dataset} ${step.action} ok${message ? `: ${message}` : ''}`);
    return { ...base, ok: true, message: message ? oneLine(message) : null, error_kind: null, elapsed_ms: elapsed() };
  } catch (e) {
    const kind = isBackendError(e) ? e.kind : e instanceof GateRefused ? 'refused' : e instanceof StepFailed ? e.kind : null;
    const message = oneLine(e instanceof Error ? e.message : String(e));
    fx.log?.(`${step.dataset} ${step.action} failed: ${message}`);
    return { ...base, ok: false, message, error_kind: kind, elapsed_ms: elapsed() };
  }
}

function blankStatus(id: string, fx: ApplyEffects): DatasetStatus {
  return { format: 'dvm.dataset-status/1', id, phase: 'pending', reason: 'a step is running', error: null, since: fx.now().toISOString(), by: fx.node, observed: null, markers: {}, formatted: null };
}

async function patchStatus(fx: ApplyEffects, id: string, f: (s: DatasetStatus) => void): Promise<void> {
  if (!fx.store) throw new StepFailed('no store: markers and records cannot be written');
  await fx.store.updateStatus(id, (cur) => {
    const s: DatasetStatus = cur ? { ...cur, markers: { ...cur.markers } } : blankStatus(id, fx);
    f(s);
    return s;
  });
}

function control(fx: ApplyEffects) {
  const c = fx.backend.control;
  if (!c) throw new StepFailed('this agent has no credentials for the control plane', 'credentials');
  if (!fx.leadership) throw new StepFailed('this agent does not take part in the credentialed election', 'credentials');
  return { c, fenced: <T>(call: () => Promise<T>) => fx.leadership!.fenced(call) };
}

const vol = (step: PlanStep): Volume => {
  const v = step.args.volume as Volume | undefined;
  if (!v || v.id !== step.volume) throw new StepFailed(`the step carries no volume record for '${step.volume}'`);
  return v;
};
const str = (step: PlanStep, k: string): string => {
  const x = step.args[k];
  if (typeof x !== 'string' || x === '') throw new StepFailed(`the step has no '${k}'`);
  return x;
};
const num = (step: PlanStep, k: string): number => {
  const x = step.args[k];
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw new StepFailed(`the step has no '${k}'`);
  return x;
};
const fsArg = (step: PlanStep): Filesystem => {
  const f = step.args.filesystem;
  if (f !== 'ext4' && f !== 'xfs') throw new StepFailed(`unsupported filesystem '${String(f)}'`);
  return f;
};

/** The step's device, re-found through the backend and checked to be this volume's. */
async function device(step: PlanStep, fx: ApplyEffects): Promise<string> {
  const v = vol(step);
  const path = str(step, 'device');
  const bad = await fx.backend.node.verifyDevice(v, path);
  if (bad) throw new StepFailed(`'${path}' is not volume '${v.id}''s device: ${bad}`);
  return path;
}

/**
 * The device holding the filesystem: the step's verified device, or its
 * partition when the step names one (which must be a partition the kernel
 * shows on that device, so a step never reaches another volume's).
 */
async function fsDevice(step: PlanStep, fx: ApplyEffects): Promise<string> {
  const dev = await device(step, fx);
  const part = step.args.partition;
  if (typeof part !== 'string') return dev;
  const parts = (await fx.host.partitions?.(dev)) ?? [];
  if (!parts.includes(part)) throw new StepFailed(`'${part}' is not a partition of '${dev}' (the kernel shows ${parts.length ? parts.join(', ') : 'none'})`);
  return part;
}

async function run(step: PlanStep, fx: ApplyEffects): Promise<string | null> {
  const now = () => fx.now().toISOString();
  switch (step.action) {
    case 'create': {
      const { c, fenced } = control(fx);
      await patchStatus(fx, step.dataset, (s) => {
        s.markers.create_started = { at: now(), volume: null };
      });
      // A failed create keeps the marker whatever the error says: a backend can make the volume and
      // still report a failure (a timeout, a proxy's 5xx). The planner waits for the listing to show
      // it, and creates again only after a grace period in which no volume of this dataset appeared.
      const v = await fenced(() => c.create({ cluster: str(step, 'cluster'), dataset: step.dataset, name: str(step, 'name'), size: num(step, 'size'), metadata: (step.args.metadata as Record<string, string>) ?? {} }));
      await patchStatus(fx, step.dataset, (s) => {
        s.markers.create_started = { at: s.markers.create_started?.at ?? now(), volume: v.id };
      });
      return `volume '${v.id}' created (${v.status})`;
    }
    case 'attach': {
      const { c, fenced } = control(fx);
      const node = str(step, 'node');
      try {
        await fenced(() => c.attach(vol(step).id, node));
      } catch (e) {
        if (!(isBackendError(e, 'already-attached') && (e.node === node || e.node === undefined))) throw e;
      }
      return `attached to node '${node}'`;
    }
    case 'detach': {
      const { c, fenced } = control(fx);
      await destructive('detach', step, fx, async () => {
        try {
          await fenced(() => c.detach(vol(step).id));
        } catch (e) {
          if (!isBackendError(e, 'not-attached')) throw e;
        }
      });
      return `detached from node '${str(step, 'node')}'`;
    }
    case 'destroy': {
      const { c, fenced } = control(fx);
      await destructive('destroy', step, fx, async () => {
        try {
          await fenced(() => c.destroy(vol(step).id));
        } catch (e) {
          if (!isBackendError(e, 'unknown-volume')) throw e;
        }
      });
      return `volume '${step.volume}' destroyed`;
    }
    case 'resize': {
      const { c, fenced } = control(fx);
      const size = num(step, 'size');
      const v = vol(step);
      if (step.args.shrink === true) {
        await destructive('shrink', step, fx, () => fenced(() => c.resize(v.id, size)));
        return `volume shrunk to ${size} bytes`;
      }
      if (size < v.size) throw new StepFailed(`a resize from ${v.size} to ${size} bytes would shrink the volume, and no shrink was asked for`);
      const r = await fenced(() => c.resize(v.id, size));
      return `volume resized to ${r.size} bytes`;
    }
    case 'set-metadata': {
      const { c, fenced } = control(fx);
      const md = { ...((step.args.metadata as Record<string, string>) ?? {}), [DATASET_KEY]: step.dataset, [CLUSTER_KEY]: str(step, 'cluster') };
      await fenced(() => c.setMetadata(vol(step).id, md));
      return `volume '${step.volume}' now carries dataset id ${step.dataset}`;
    }
    case 'snapshot': {
      const { c, fenced } = control(fx);
      if (!c.snapshot) throw new StepFailed('the backend cannot take snapshots', 'unsupported');
      const v = vol(step);
      const to = num(step, 'to');
      const id = await fenced(() => c.snapshot!(v.id, `dvm-shrink-${step.dataset.slice(0, 8)}`));
      await patchStatus(fx, step.dataset, (s) => {
        s.markers.shrink_started = { volume: v.id, from: num(step, 'from'), to, snapshot: id, at: now() };
      });
      return `snapshot '${id}' taken before the shrink`;
    }
    case 'remove-snapshot': {
      const { c, fenced } = control(fx);
      const sid = str(step, 'snapshot');
      if (c.removeSnapshot) {
        try {
          await fenced(() => c.removeSnapshot!(vol(step).id, sid));
        } catch (e) {
          // Removed by an earlier run that was killed before it cleared the marker.
          if (!isBackendError(e, 'unknown-volume')) throw e;
        }
      }
      const keep = step.args.keep_marker === true;
      await patchStatus(fx, step.dataset, (s) => {
        // Mid-shrink (the filesystem checked, the volume not yet shrunk) the marker stays, its snapshot gone.
        if (keep && s.markers.shrink_started?.snapshot === sid) s.markers.shrink_started.snapshot = null;
        else if (!keep) delete s.markers.shrink_started;
      });
      return keep ? `snapshot '${sid}' removed; the shrink goes on` : `shrink finished; snapshot '${sid}' removed`;
    }
    case 'restore-snapshot':
      throw new StepFailed('restoring a snapshot is an operator action, not planned by this agent', 'unsupported');
    case 'connect': {
      const d = await fx.backend.node.findDevice(vol(step));
      if (!d) throw new StepFailed(`no device for volume '${step.volume}' on node '${fx.node}' yet`, 'not-present');
      return `device '${d.path}'`;
    }
    case 'refresh': {
      const v = vol(step);
      const d = await fx.backend.node.refresh(v);
      if (!d) throw new StepFailed(`no device for volume '${v.id}' after a refresh`, 'not-present');
      if (d.size !== v.size) throw new StepFailed(`device '${d.path}' is ${d.size} bytes after a refresh, the volume ${v.size}`);
      return `device '${d.path}' is ${d.size} bytes`;
    }
    case 'mkfs':
      return mkfs(step, fx);
    case 'record':
      return record(step, fx);
    case 'fsck':
      return fsckOnly(step, fx);
    case 'mount':
      return mount(step, fx);
    case 'unmount': {
      const path = str(step, 'path');
      const dev = typeof step.args.partition === 'string' ? step.args.partition : str(step, 'device');
      const m = await fx.host.mountedAt(dev);
      if (!m) return `'${dev}' was not mounted`;
      if (m.path !== path) throw new StepFailed(`'${dev}' is mounted at '${m.path}', not '${path}'`);
      await fx.host.unmount(path);
      const after = await fx.host.mountedAt(dev);
      if (after) throw new StepFailed(`'${dev}' is still mounted at '${after.path}' after umount`);
      return `'${path}' unmounted`;
    }
    case 'release':
      await destructive('release', step, fx, () => fx.backend.node.release(vol(step)));
      return `device '${str(step, 'device')}' released`;
    case 'grow-fs': {
      const v = vol(step);
      const dev = await fsDevice(step, fx);
      const d = await fx.backend.node.refresh(v);
      if (!d || d.size < v.size) throw new StepFailed(`device '${d?.path ?? dev}' is ${d?.size ?? 'not'} bytes, the volume ${v.size}: not grown on the device yet`);
      const m = await fx.host.mountedAt(dev);
      if (!m) throw new StepFailed(`'${dev}' is not mounted; it is grown online only`);
      await fx.host.growFs(dev, m.path, fsArg(step));
      const p = await fx.host.probe(dev);
      const want = Math.min(num(step, 'size'), d.size);
      if (p.fs_size === null || p.fs_size + 4 * 1024 * 1024 < want) throw new StepFailed(`the filesystem is ${p.fs_size ?? 'of unknown size'} after the grow, expected about ${want} bytes`);
      return `filesystem grown to ${p.fs_size} bytes`;
    }
    case 'grow-partition': {
      const v = vol(step);
      const part = await fsDevice(step, fx);
      const dev = str(step, 'device');
      if (!fx.host.growPartition || !fx.host.partitionSpan) throw new StepFailed(`this host cannot grow partitions`, 'unsupported');
      const d = await fx.backend.node.findDevice(v, { connect: false });
      if (!d || d.path !== dev) throw new StepFailed(`device '${dev}' of volume '${v.id}' is not connected here`);
      await fx.host.growPartition(dev, part);
      const span = await fx.host.partitionSpan(part);
      if (!span || span.start + span.size + 1024 * 1024 < d.size) throw new StepFailed(`partition '${part}' is ${span ? `${span.size} bytes from ${span.start}` : 'of unknown extent'} after the grow, on a ${d.size}-byte device`);
      return `partition '${part}' grown to ${span.size} bytes`;
    }
    case 'shrink-fs': {
      const v = vol(step);
      const fs = fsArg(step);
      const to = num(step, 'to');
      const dev = str(step, 'device');
      await destructive('shrink-fs', step, fx, async () => {
        await patchStatus(fx, step.dataset, (s) => {
          if (!s.markers.shrink_started || s.markers.shrink_started.volume !== v.id) s.markers.shrink_started = { volume: v.id, from: num(step, 'from'), to, snapshot: null, at: now() };
        });
        await fx.host.shrinkFs(dev, fs, to);
      });
      const p = await fx.host.probe(dev);
      if (p.fs_size === null || p.fs_size > to) throw new StepFailed(`the filesystem is ${p.fs_size ?? 'of unknown size'} after the shrink, expected at most ${to} bytes`);
      return `filesystem shrunk to ${p.fs_size} bytes`;
    }
    case 'app-stop':
    case 'app-start':
    case 'migrate': {
      if (!fx.apps) throw new StepFailed(`'${step.action}': this agent was started without applications (--apps-dir)`, 'unsupported');
      const afx = { ...fx.apps, apps: fx.apps.set, mounts: () => fx.host.mounts(), now: fx.now, log: fx.apps.log ?? fx.log ?? (() => {}) };
      try {
        return await (step.action === 'app-stop' ? appStop : step.action === 'migrate' ? migrate : appStart)(step, afx);
      } catch (e) {
        throw new StepFailed(e instanceof Error ? e.message : String(e));
      }
    }
  }
}

/** Metadata keys that make a volume a dataset's (shared with the backends' listings). */
export const DATASET_KEY = 'dvm.dataset';
export const CLUSTER_KEY = 'dvm.cluster';

async function mkfs(step: PlanStep, fx: ApplyEffects): Promise<string> {
  const v = vol(step);
  const dev = str(step, 'device');
  const fs = fsArg(step);
  const uuid = await destructive('mkfs', step, fx, async () => {
    // The marker goes to the store before mkfs starts; an update that finds a formatted record refuses.
    let refused: string | null = null;
    await fx.store!.updateStatus(step.dataset, (cur) => {
      const s: DatasetStatus = cur ? { ...cur, markers: { ...cur.markers } } : blankStatus(step.dataset, fx);
      if (s.formatted) {
        refused = `the dataset was formatted (${s.formatted.uuid}) meanwhile`;
        return cur;
      }
      s.markers.mkfs_started = { volume: v.id, node: fx.node, at: fx.now().toISOString() };
      return s;
    });
    if (refused) throw new GateRefused(`mkfs of volume '${v.id}' refused: ${refused}`);
    // --partition: the table and its one partition first, under the same marker (a rerun writes both again).
    let target = dev;
    if (step.args.partition === true) {
      if (!fx.host.partition) throw new StepFailed(`this host does not make partitions`, 'unsupported');
      target = await fx.host.partition(dev);
    }
    return fx.host.mkfs(target, fs, String(step.args.label ?? '').slice(0, 12) || 'dvm');
  });
  await patchStatus(fx, step.dataset, (s) => {
    s.formatted = { volume: v.id, filesystem: fs, uuid, at: fx.now().toISOString(), by: fx.node };
    delete s.markers.mkfs_started;
    delete s.markers.create_started;
  });
  return `${fs} filesystem ${uuid} made and recorded`;
}

async function record(step: PlanStep, fx: ApplyEffects): Promise<string> {
  const v = vol(step);
  if (step.args.clear === 'shrink_started') {
    await patchStatus(fx, step.dataset, (s) => {
      delete s.markers.shrink_started;
    });
    return 'shrink marker cleared';
  }
  const dev = await fsDevice(step, fx);
  const p = await fx.host.probe(dev);
  if (!p.signature) throw new StepFailed(`'${dev}' shows no filesystem to record${p.error ? ` (${p.error})` : ''}`);
  const fs = p.signature.type;
  if (fs !== 'ext4' && fs !== 'xfs') throw new StepFailed(`'${dev}' holds a ${fs} filesystem; only ext4 and xfs are kept`);
  if (!p.signature.uuid) throw new StepFailed(`the ${fs} filesystem on '${dev}' has no UUID`);
  let msg = '';
  await patchStatus(fx, step.dataset, (s) => {
    if (s.formatted && s.formatted.uuid !== p.signature!.uuid) throw new StepFailed(`the recorded filesystem is ${s.formatted.uuid}, the device holds ${p.signature!.uuid}`);
    if (!s.formatted) {
      s.formatted = { volume: v.id, filesystem: fs, uuid: p.signature!.uuid!, at: fx.now().toISOString(), by: fx.node };
      msg = `${fs} filesystem ${p.signature!.uuid} recorded`;
    } else msg = 'markers cleared';
    delete s.markers.mkfs_started;
    delete s.markers.create_started;
  });
  return msg;
}

/** The check of a shrunk, unmounted filesystem (fsck's own repairs allowed): its result decides whether the shrink's snapshot goes. */
async function fsckOnly(step: PlanStep, fx: ApplyEffects): Promise<string> {
  const v = vol(step);
  const fs = fsArg(step);
  const to = num(step, 'to');
  const dev = await fsDevice(step, fx);
  const m = await fx.host.mountedAt(dev);
  if (m) throw new StepFailed(`'${dev}' is mounted at '${m.path}': a shrunk filesystem is checked unmounted`);
  const p = await fx.host.probe(dev);
  if (!p.signature || p.signature.type !== fs) throw new StepFailed(`'${dev}' does not show the ${fs} filesystem to check${p.error ? ` (${p.error})` : ''}`);
  if (p.fs_size === null || p.fs_size > to) throw new StepFailed(`the filesystem on '${dev}' is ${p.fs_size ?? 'of unknown size'}, not yet shrunk to ${to} bytes`);
  const f = await fx.host.fsck(dev, fs, { force: true });
  await patchStatus(fx, step.dataset, (s) => {
    const at = fx.now().toISOString();
    s.fsck = { volume: v.id, node: fx.node, code: f.code, at, read_only: f.code >= 4 };
    const shrink = s.markers.shrink_started;
    if (shrink && shrink.volume === v.id && !shrink.checked) shrink.checked = { code: f.code, at };
  });
  return f.code >= 4 ? `fsck left errors (exit ${f.code}: ${f.detail})` : `checked (fsck exit ${f.code})`;
}

async function mount(step: PlanStep, fx: ApplyEffects): Promise<string> {
  const v = vol(step);
  const path = str(step, 'path');
  const fs = fsArg(step);
  const bad = mountPathProblem(path, fx.mountRoot);
  if (bad) throw new StepFailed(bad, 'invalid');
  const dev = await fsDevice(step, fx);
  const m = await fx.host.mountedAt(dev);
  if (m) {
    if (m.path === path) return `already mounted at '${path}'`;
    throw new StepFailed(`'${dev}' is already mounted at '${m.path}'`);
  }
  const taken = (await fx.host.mounts()).find((e) => e.path === path);
  if (taken) throw new StepFailed(`something else ('${taken.source}') is mounted at '${path}'`);
  const p = await fx.host.probe(dev);
  if (!p.signature || p.signature.type !== fs) throw new StepFailed(`'${dev}' does not show the ${fs} filesystem to mount${p.error ? ` (${p.error})` : ''}`);
  const uuid = step.args.uuid;
  if (typeof uuid === 'string' && p.signature.uuid && p.signature.uuid !== uuid) throw new StepFailed(`'${dev}' holds filesystem ${p.signature.uuid}, not the recorded ${uuid}`);
  // fsck before every mount; errors it cannot correct leave the filesystem read-only.
  const f = await fx.host.fsck(dev, fs);
  const readOnly = f.code >= 4;
  await patchStatus(fx, step.dataset, (s) => {
    const at = fx.now().toISOString();
    s.fsck = { volume: v.id, node: fx.node, code: f.code, at, read_only: readOnly };
    // The first check after a shrink (the volume already at the shrink's size): its snapshot waits for this.
    const shrink = s.markers.shrink_started;
    if (shrink && shrink.volume === v.id && v.size <= shrink.to && !shrink.checked) shrink.checked = { code: f.code, at };
  });
  try {
    await fx.host.mount(dev, path, fs, readOnly);
  } catch (e) {
    throw new StepFailed(`unmountable: ${(e as Error).message}${readOnly ? ` (fsck exit ${f.code}: ${f.detail})` : ''}`);
  }
  return readOnly ? `mounted read-only at '${path}': fsck left errors (exit ${f.code}: ${f.detail})` : `checked (fsck exit ${f.code}) and mounted at '${path}'`;
}
