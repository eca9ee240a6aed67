// `dataset map --apply FILE`: the volume map of a service manager's units
// (`{"cassandra/0": "vol-00000081"}`), turned into desired entries: each
// unit's volume adopted as a dataset bound to the unit's service (an
// application defined on the nodes), on the unit's node. A unit dropped from
// the map is detached (its application stopped first); its volume stays:
// volumes outlive services. Pure: the caller reads the file, the desired
// state and the listing, and writes the result under the store's lock.
import { parse as parseYaml } from 'yaml';
import type { DatasetsDoc, DesiredDataset, Volume } from '../docs.js';

export const UNIT_KEY = 'dvm.unit';
const UNIT = /^[A-Za-z0-9][A-Za-z0-9+_.-]{0,62}(\/[0-9]{1,6})?$/;
const NODE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const VOLUME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

export interface UnitBinding {
  volume: string;
  node: string;
  mount: string | null;
}

export type VolumeMap = Map<string, UnitBinding>;

export class MapError extends Error {}

/** Parses the map (JSON or YAML); every entry `unit: volume` or `unit: {volume, node, mount}`. */
export function parseVolumeMap(text: string, defaultNode: string | null): VolumeMap {
  let raw: unknown;
  try {
    raw = parseYaml(text, { schema: 'core', uniqueKeys: true, maxAliasCount: 0 });
  } catch (e) {
    throw new MapError(`not JSON or YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new MapError('expected an object of unit: volume');
  const map: VolumeMap = new Map();
  for (const [unit, v] of Object.entries(raw as Record<string, unknown>)) {
    if (!UNIT.test(unit)) throw new MapError(`unit '${unit.slice(0, 80)}': expected SERVICE or SERVICE/N`);
    const entry = typeof v === 'string' ? { volume: v } : v;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new MapError(`unit '${unit}': expected a volume id or {volume, node}`);
    const { volume, node, mount, ...rest } = entry as Record<string, unknown>;
    if (Object.keys(rest).length) throw new MapError(`unit '${unit}': unknown key '${Object.keys(rest)[0]}'`);
    if (typeof volume !== 'string' || !VOLUME.test(volume)) throw new MapError(`unit '${unit}': invalid volume id`);
    const n = node ?? defaultNode;
    if (typeof n !== 'string' || !NODE.test(n)) throw new MapError(`unit '${unit}': ${n == null ? 'no node (give --node, or {volume, node})' : 'invalid node name'}`);
    if (mount != null && (typeof mount !== 'string' || !mount.startsWith('/'))) throw new MapError(`unit '${unit}': mount must be an absolute path`);
    map.set(unit, { volume, node: n, mount: (mount as string | undefined) ?? null });
  }
  const volumes = new Map<string, string>();
  for (const [unit, b] of map) {
    const other = volumes.get(b.volume);
    if (other) throw new MapError(`volume '${b.volume}' is mapped to both '${other}' and '${unit}'`);
    volumes.set(b.volume, unit);
  }
  return map;
}

/** `cassandra/0` → service `cassandra`, dataset name `cassandra-0`. */
export const serviceOf = (unit: string) => unit.split('/')[0];
export const datasetNameOf = (unit: string) => unit.replace('/', '-');

export interface MapInput {
  doc: DatasetsDoc;
  map: VolumeMap;
  /** The credentialed node's listing: an adopted volume's size comes from it. */
  volumes: Volume[];
  now: string;
  newId: () => string;
}

/** The new desired state and one line per change (for the operator). */
export function applyVolumeMap({ doc, map, volumes, now, newId }: MapInput): { doc: DatasetsDoc; changes: string[] } {
  const datasets: Record<string, DesiredDataset> = { ...doc.datasets };
  const changes: string[] = [];
  const byUnit = new Map<string, string>();
  const byVolume = new Map<string, string>();
  for (const [id, d] of Object.entries(datasets)) {
    if (d.deleted) continue;
    const unit = d.meta?.[UNIT_KEY];
    if (unit) byUnit.set(unit, id);
    if (d.volume) byVolume.set(d.volume, id);
  }
  const listed = new Map(volumes.map((v) => [v.id, v]));
  const names = new Map(Object.entries(datasets).filter(([, d]) => !d.deleted).map(([id, d]) => [d.name, id]));
  const unbind = (id: string, why: string) => {
    const d = datasets[id];
    const meta = { ...(d.meta ?? {}) };
    delete meta[UNIT_KEY];
    const { app: _app, ...rest } = d;
    datasets[id] = { ...rest, node: null, meta, changed: now };
    changes.push(`${d.name}: ${why}: application stopped, detached; the volume stays`);
  };

  for (const [unit, b] of map) {
    const current = byUnit.get(unit);
    if (current && datasets[current].volume !== b.volume) {
      unbind(current, `unit '${unit}' now maps to volume '${b.volume}'`);
    } else if (current) {
      const d = datasets[current];
      if (d.node !== b.node || (b.mount && d.mount !== b.mount)) {
        datasets[current] = { ...d, node: b.node, mount: b.mount ?? d.mount, changed: now };
        changes.push(`${d.name}: unit '${unit}' moves ${d.node ?? 'nowhere'} -> ${b.node}`);
      }
      continue;
    }
    const existing = byVolume.get(b.volume);
    if (existing && !datasets[existing].meta?.[UNIT_KEY]) {
      const d = datasets[existing];
      datasets[existing] = { ...d, node: b.node, app: serviceOf(unit), mount: b.mount ?? d.mount, meta: { ...(d.meta ?? {}), [UNIT_KEY]: unit }, changed: now };
      changes.push(`${d.name}: bound to unit '${unit}' on ${b.node}`);
      continue;
    }
    if (existing) throw new MapError(`volume '${b.volume}' already belongs to unit '${datasets[existing].meta?.[UNIT_KEY]}'`);
    const vol = listed.get(b.volume);
    if (!vol) throw new MapError(`volume '${b.volume}' (unit '${unit}') is not in the backend listing: is the credentialed agent running?`);
    if (vol.dataset && datasets[vol.dataset] && !datasets[vol.dataset].deleted) throw new MapError(`volume '${b.volume}' belongs to dataset '${datasets[vol.dataset].name}'`);
    const name = datasetNameOf(unit);
    if (names.has(name)) throw new MapError(`unit '${unit}': a dataset named '${name}' already exists`);
    const id = newId();
    datasets[id] = {
      name,
      size: vol.size,
      filesystem: 'ext4',
      node: b.node,
      mount: b.mount,
      deleted: false,
      volume: b.volume,
      app: serviceOf(unit),
      meta: { [UNIT_KEY]: unit },
      changed: now,
    };
    names.set(name, id);
    changes.push(`${name}: volume '${b.volume}' adopted for unit '${unit}' on ${b.node}`);
  }
  for (const [unit, id] of byUnit) if (!map.has(unit) && datasets[id].meta?.[UNIT_KEY] === unit) unbind(id, `unit '${unit}' left the map`);
  return { doc: { ...doc, datasets }, changes };
}
