// The metadata keys that tie a volume to its cluster and dataset, and the
// shape of a Cinder volume id.
export const META_DATASET = 'dvm.dataset';
export const META_CLUSTER = 'dvm.cluster';

export const VOLUME_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const DATASET_ID = VOLUME_ID;

/** The dataset id a volume's metadata names, or null (not any dataset's). */
export const datasetOf = (metadata: Record<string, string>): string | null => {
  const ds = metadata[META_DATASET];
  return ds !== undefined && DATASET_ID.test(ds) ? ds : null;
};
