// Checks every backend makes the same way, so the contract suite sees one
// behaviour: metadata shape, sizes against the limits, the dataset id read
// back from metadata.
import type { Limits } from '../docs.js';
import { BackendError, META_DATASET } from './types.js';

const META_KEY = /^[A-Za-z0-9_.:-]{1,255}$/;
const DATASET_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** As the documents' schema allows: at most 64 keys, each [A-Za-z0-9_.:-], values up to 255 characters. */
export function checkMetadata(metadata: Record<string, string>, volumeId?: string, existing: Record<string, string> = {}): void {
  for (const [k, v] of Object.entries(metadata)) {
    if (!META_KEY.test(k)) throw new BackendError('invalid', `metadata key '${k}' is not [A-Za-z0-9_.:-]{1,255}`, volumeId);
    if (typeof v !== 'string' || v.length > 255 || /[\n\r\0]/.test(v)) throw new BackendError('invalid', `metadata '${k}' must be one line of at most 255 characters`, volumeId);
  }
  if (Object.keys({ ...existing, ...metadata }).length > 64) throw new BackendError('invalid', 'more than 64 metadata keys', volumeId);
  const ds = metadata[META_DATASET];
  if (ds !== undefined && !DATASET_ID.test(ds)) throw new BackendError('invalid', `metadata '${META_DATASET}' must be a dataset id (a UUID), not '${ds}'`, volumeId);
}

/** The dataset id a volume's metadata names, or null (not any dataset's). */
export const datasetOf = (metadata: Record<string, string>): string | null => {
  const ds = metadata[META_DATASET];
  return ds !== undefined && DATASET_ID.test(ds) ? ds : null;
};

export const roundUp = (size: number, unit: number): number => Math.ceil(size / unit) * unit;

/** Rounds `size` up to the allocation unit and checks it against the bounds; returns the size to make. */
export function checkSize(size: number, limits: Limits, volumeId?: string): number {
  if (!Number.isSafeInteger(size) || size <= 0) throw new BackendError('invalid', `size ${size} is not a positive whole number of bytes`, volumeId);
  const rounded = roundUp(size, limits.allocation_unit);
  if (rounded < limits.min_size) throw new BackendError('limit-exceeded', `size ${rounded} is below the minimum ${limits.min_size}`, volumeId);
  if (rounded > limits.max_size) throw new BackendError('limit-exceeded', `size ${rounded} is above the maximum ${limits.max_size}`, volumeId);
  return rounded;
}

/** Checks a volume id against the backend's pattern before it is used in a path or a call. */
export function checkVolumeId(id: string, pattern: RegExp): void {
  if (typeof id !== 'string' || !pattern.test(id)) throw new BackendError('invalid', `volume id '${String(id).slice(0, 80)}' does not match ${pattern.source}`, String(id).slice(0, 80));
}
