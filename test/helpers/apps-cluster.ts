// What the application tests share on top of the test cluster: node names of
// this process (the agent's runtime directory, /run/dvm/<node>, is per node
// name, so two test files never share one), application definitions written
// the way an administrator would (root-owned, not writable by others),
// loopback volumes made beforehand by writing the backend's own records, the
// stand-in service, and waiting for convergence with every agent's log in
// the failure message.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Cluster } from './agent-cluster.js';
import { ROOT } from './cli.js';
import { openDirStore } from '../../src/agent/store/dir/dir-store.js';
import type { DatasetStatus, DatasetsDoc } from '../../src/agent/docs.js';

export const STANDIN = path.join(ROOT, 'test/fixtures/standin-service.sh');

/** Node names unique to this process. */
export const nodeName = (n: number) => `n${n}p${process.pid}`;

/** Where a node's agent reads its applications. */
export function appsDir(c: Cluster, node: string): string {
  const dir = path.join(c.work, `apps-${node}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  return dir;
}

/** Defines application `name` on `node` (dvm.app/1 in its APPS_DIR). */
export function defineApp(c: Cluster, node: string, name: string, def: object): void {
  const f = path.join(appsDir(c, node), `${name}.json`);
  writeFileSync(f, JSON.stringify(def, null, 1) + '\n', { mode: 0o644 });
  chmodSync(f, 0o644);
}

/** The stand-in service as an application; with `lock`, a running copy holds it (two copies are refused and recorded). */
export function standinApp(dataDir: string, lock: string | null, migrate: 'copy' | 'none' = 'copy'): object {
  const extra = lock ? [lock] : [];
  return { format: 'dvm.app/1', stop: ['sh', STANDIN, 'stop', dataDir, ...extra], start: ['sh', STANDIN, 'start', dataDir, ...extra], data_dir: dataDir, migrate, timeout_seconds: 60 };
}

/** A loopback volume made outside dvm, by writing the backend's image and record; `prepare` may fill the image first. */
export function premadeVolume(c: Cluster, size: number, prepare?: (image: string) => void): string {
  const id = `lb-${randomBytes(8).toString('hex')}`;
  const dir = path.join(c.lb, 'volumes');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const image = path.join(dir, `${id}.img`);
  writeFileSync(image, '');
  truncateSync(image, size);
  prepare?.(image);
  const record = { format: 'dvm.loopback-volume/1', id, name: `premade-${id.slice(3, 9)}`, metadata: {}, attached: null, created_at: new Date().toISOString() };
  writeFileSync(path.join(dir, `${id}.json`), JSON.stringify(record, null, 1) + '\n', { mode: 0o600 });
  return id;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the credentialed agent's listing in the store shows every one of `ids`. */
export async function waitListed(c: Cluster, ids: string[], ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // The store appears with the first agent's first pass.
    const s = await openDirStore(c.store).catch(() => null);
    if (s) {
      try {
        const l = await s.readListing();
        if (l && ids.every((id) => l.volumes.some((v) => v.id === id))) return;
      } finally {
        await s.close();
      }
    }
    await sleep(200);
  }
  throw new Error(`volumes ${ids.join(', ')} not listed after ${ms} ms\n${c.logs()}`);
}

/** `dataset status --wait`; on a timeout the error carries the status and every agent's log. */
export async function waitConverged(c: Cluster, what: string, timeout = 240): Promise<void> {
  const r = await c.dataset('status', '--wait', '--timeout', String(timeout));
  if (r.exitCode !== 0) throw new Error(`${what}: status --wait exited ${r.exitCode}\n${r.stdout}${r.stderr}\n${c.logs()}`);
}

export async function statusOf(c: Cluster, name: string): Promise<{ id: string; status: DatasetStatus | null }> {
  const r = await c.dataset('status', '--json');
  if (r.exitCode !== 0) throw new Error(r.stderr);
  const doc = JSON.parse(r.stdout) as { datasets: Record<string, { name: string; status: DatasetStatus | null }> };
  const found = Object.entries(doc.datasets).find(([, d]) => d.name === name);
  if (!found) throw new Error(`no dataset '${name}' in status`);
  return { id: found[0], status: found[1].status };
}

export async function desired(c: Cluster): Promise<DatasetsDoc> {
  const r = await c.dataset('list', '--json');
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as DatasetsDoc;
}

/** Applies a volume map (written to a file in the work directory); throws with its stderr on failure. */
export async function applyMap(c: Cluster, map: object, node: string): Promise<string> {
  const f = path.join(c.work, `map-${Date.now()}-${randomBytes(2).toString('hex')}.json`);
  writeFileSync(f, JSON.stringify(map));
  const r = await c.dataset('map', '--apply', f, '--node', node);
  if (r.exitCode !== 0) throw new Error(`map --apply ${JSON.stringify(map)}: exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}

/** The mountinfo line of `node` with mount point `p`, or null. */
export function mountLine(c: Cluster, node: string, p: string): string | null {
  return c.mountsOf(node).split('\n').find((l) => l.split(' ')[4] === p) ?? null;
}

/** The sha256 of every `rec-*` file in `dir` as seen in `node`'s namespace (null: the host's). */
export function records(c: Cluster, node: string | null, dir: string): Map<string, string> {
  const script = `cd '${dir}' && for f in rec-*; do [ -e "$f" ] && sha256sum "$f"; done; true`;
  const out = node ? c.inNode(node, 'sh', ['-c', script]) : execFileSync('sh', ['-c', script], { encoding: 'utf8' });
  return new Map(out.split('\n').filter((l) => l).map((l) => { const [h, f] = l.split(/\s+/); return [f, h]; }));
}

/** Runs the stand-in's own check of DIR/MANIFEST in `node`'s namespace; throws on a damaged or missing record. */
export function verifyManifest(c: Cluster, node: string, dir: string): void {
  c.inNode(node, 'sh', ['-c', `cd '${dir}' && sha256sum --quiet --strict -c MANIFEST`]);
}

/** Removes the runtime directories of this process's nodes (the records of started applications). */
export function clearRuntime(nodes: string[]): void {
  for (const n of nodes) rmSync(`/run/dvm/${n}`, { recursive: true, force: true });
}
