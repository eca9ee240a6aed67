// The metadata keys that tie a volume to its cluster and dataset, and the
// shape of a Cinder volume id.
export { META_CLUSTER, META_DATASET } from '../../backend/types.js';
export { datasetOf } from '../../backend/common.js';

export const VOLUME_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

