// The planner, one test per (desired x discovered) cell: Flocker's table
// (MOUNTED / NON_MANIFEST / DELETED against NON_EXISTENT ... MOUNTED),
// extended with markers, read-only mounts, resize and shrink, adopt, limits,
// the node/credentialed split and waiting_for. Every cell is planned from
// each node's point of view: the one step lands in `steps` exactly on the
// node that runs it and in `waiting_for` everywhere else; every dataset has
// a phase and, when not converged, a reason; the plan passes its schema.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { plan, CREATE_GRACE_MS } from '../../src/agent/plan/index.js';
import type { PlanDoc, StepAction } from '../../src/agent/docs.js';
import type { PlanInput } from '../../src/agent/plan/types.js';
import { validate } from '../../src/lib/schema.js';
import { BLANK, FORMATTED, MiB, NOW, desired, device, did, input, status, volume } from '../helpers/plan-fixtures.js';

type Expect = { action: StepAction; on: string; args?: Record<string, unknown> } | { phase: string; reason: RegExp };

const ID = did(1);
const fmt = { [ID]: status(ID, { formatted: FORMATTED() }) };
const unmounted = { mount: null };
const FENCE = { format: 'dvm.node-fence/1' as const, node: 'n1', reason: 'powered off', at: '2026-12-02T03:00:00.000Z', by: 'root@ops' };
const fencedN1 = { n1: { alive: false, fenced: FENCE } };

const cells: [string, PlanInput, Expect][] = [
  // ---- desired MOUNTED on n1 ----
  ['mounted x no listing yet', input({ volumes: null }), { phase: 'waiting', reason: /no backend listing/ }],
  ['mounted x NON_EXISTENT: create (credentialed)', input({ volumes: [] }), { action: 'create', on: 'credentialed', args: { size: 64 * MiB, name: 'dvm-a' } }],
  ['mounted x NON_EXISTENT, size rounded up to the allocation unit', input({ datasets: { [ID]: desired({ size: 10 * MiB + 1 }) }, volumes: [], limits: { allocation_unit: 4 * MiB } }), { action: 'create', on: 'credentialed', args: { size: 12 * MiB } }],
  ['mounted x NON_EXISTENT past max_size: blocked, no call', input({ datasets: { [ID]: desired({ size: 2048 * MiB }) }, volumes: [], limits: { max_size: 1024 * MiB } }), { phase: 'blocked', reason: /above the backend's maximum/ }],
  ['mounted x NON_EXISTENT below min_size: blocked', input({ datasets: { [ID]: desired({ size: MiB }) }, volumes: [], limits: { min_size: 1024 * MiB, allocation_unit: MiB } }), { phase: 'blocked', reason: /below the backend's minimum/ }],
  ['mounted x NON_EXISTENT, volume quota used up: blocked', input({ volumes: [volume({ id: 'vol-9', dataset: null, attached: null, status: 'available' })], limits: { max_volumes: 1 } }), { phase: 'blocked', reason: /quota of 1 volumes/ }],
  ['mounted x NON_EXISTENT, byte quota: blocked', input({ volumes: [], limits: { max_bytes: 32 * MiB } }), { phase: 'blocked', reason: /quota of 32M/ }],
  ['mounted x create started, no reply yet (within grace): waiting, no second create', input({ volumes: [], statuses: { [ID]: status(ID, { markers: { create_started: { at: NOW, volume: null } } }) } }), { phase: 'waiting', reason: /has not shown in the listing/ }],
  ['mounted x create started long ago and never answered: create again', input({ volumes: [], statuses: { [ID]: status(ID, { markers: { create_started: { at: NOW, volume: null } } }) }, now: new Date(Date.parse(NOW) + CREATE_GRACE_MS + 1).toISOString() }), { action: 'create', on: 'credentialed' }],
  ['mounted x create started, consistent listings (grace 0), listing taken before it: waiting', input({ volumes: [], limits: { create_grace_ms: 0 }, listing: { listed_at: NOW }, statuses: { [ID]: status(ID, { markers: { create_started: { at: NOW, volume: null } } }) } }), { phase: 'waiting', reason: /once a listing taken after it shows none/ }],
  ['mounted x create started, consistent listings (grace 0), a later listing shows none: create again at once', input({ volumes: [], limits: { create_grace_ms: 0 }, listing: { listed_at: new Date(Date.parse(NOW) + 1).toISOString() }, statuses: { [ID]: status(ID, { markers: { create_started: { at: NOW, volume: null } } }) } }), { action: 'create', on: 'credentialed' }],
  ['mounted x create started, a 1-minute grace not yet over: waiting', input({ volumes: [], limits: { create_grace_ms: 60_000 }, now: new Date(Date.parse(NOW) + 59_000).toISOString(), statuses: { [ID]: status(ID, { markers: { create_started: { at: NOW, volume: null } } }) } }), { phase: 'waiting', reason: /only 1 minute after it/ }],
  ['mounted x created but not listed yet (eventual consistency): waiting', input({ volumes: [], statuses: { [ID]: status(ID, { markers: { create_started: { at: NOW, volume: 'vol-1' } } }) } }), { phase: 'waiting', reason: /not in the listing yet; no second volume/ }],
  ['mounted x REGISTERED (formatted, not listed): waiting, never re-created', input({ volumes: [], statuses: fmt }), { phase: 'waiting', reason: /formatted for this dataset, is not in the backend listing/ }],
  ['mounted x creating: waiting on it', input({ volumes: [volume({ status: 'creating', attached: null })] }), { phase: 'waiting', reason: /is creating/ }],
  ['mounted x error status: blocked', input({ volumes: [volume({ status: 'error', attached: null })] }), { phase: 'blocked', reason: /reports volume 'vol-1' as error/ }],
  ['mounted x NON_MANIFEST: attach to n1', input({ volumes: [volume({ status: 'available', attached: null })] }), { action: 'attach', on: 'credentialed', args: { node: 'n1' } }],
  ['mounted x NON_MANIFEST, n1 down: waiting (not attached to a node without an agent)', input({ volumes: [volume({ status: 'available', attached: null })], nodes: { n1: { alive: false } } }), { phase: 'waiting', reason: /node 'n1' is not running an agent/ }],
  ['mounted x NON_MANIFEST, per-node limit reached: blocked', input({ volumes: [volume({ status: 'available', attached: null }), volume({ id: 'vol-8', dataset: did(8), attached: 'n1' })], limits: { per_node: 1 }, datasets: { [ID]: desired(), [did(8)]: desired({ name: 'h' }) }, devices: { n1: { 'vol-8': device({ path: '/dev/x8', mount: { path: '/mnt/dvm/h', read_only: false } }) } }, statuses: { [did(8)]: status(did(8), { formatted: FORMATTED('vol-8') }) } }), { phase: 'blocked', reason: /limit per node is 1/ }],
  ['mounted x attached, no device yet (late device): connect on n1', input({ volumes: [volume()] }), { action: 'connect', on: 'node:n1' }],
  ['mounted x ATT_NO_FS (blank): mkfs on n1', input({ volumes: [volume()], devices: { n1: { 'vol-1': device(BLANK) } } }), { action: 'mkfs', on: 'node:n1', args: { filesystem: 'ext4', device: '/dev/memory/n1/vdb' } }],
  ['mounted x blank but reads failed: degraded, never formatted', input({ volumes: [volume()], devices: { n1: { 'vol-1': device({ ...BLANK, blank: null, error: 'EIO' }) } } }), { phase: 'degraded', reason: /cannot be read: EIO/ }],
  ['mounted x not blank (LVM label), no marker: blocked, never formatted', input({ volumes: [volume()], devices: { n1: { 'vol-1': device({ ...BLANK, blank: false, error: 'an LVM label' }) } } }), { phase: 'blocked', reason: /holds data \(an LVM label\)/ }],
  ['mounted x foreign filesystem, no record, not adopted: blocked', input({ volumes: [volume()], devices: { n1: { 'vol-1': device({ mount: null }) } } }), { phase: 'blocked', reason: /filesystem this agent did not make/ }],
  ['mounted x our mkfs interrupted (marker, partial, no signature): mkfs again', input({ volumes: [volume()], devices: { n1: { 'vol-1': device({ ...BLANK, blank: false }) } }, statuses: { [ID]: status(ID, { markers: { mkfs_started: { volume: 'vol-1', node: 'n1', at: NOW } } }) } }), { action: 'mkfs', on: 'node:n1', args: { resume: true } }],
  ["mounted x marker for ANOTHER volume, device not blank: blocked", input({ volumes: [volume()], devices: { n1: { 'vol-1': device({ ...BLANK, blank: false }) } }, statuses: { [ID]: status(ID, { markers: { mkfs_started: { volume: 'vol-7', node: 'n1', at: NOW } } }) } }), { phase: 'blocked', reason: /not blank/ }],
  ['mounted x our mkfs finished, record not written: record (no second mkfs)', input({ volumes: [volume()], devices: { n1: { 'vol-1': device(unmounted) } }, statuses: { [ID]: status(ID, { markers: { mkfs_started: { volume: 'vol-1', node: 'n1', at: NOW } } }) } }), { action: 'record', on: 'node:n1', args: { uuid: 'uuid-1' } }],
  ['mounted x formatted record, device shows nothing (damaged superblock): blocked, never formatted', input({ volumes: [volume()], devices: { n1: { 'vol-1': device(BLANK) } }, statuses: fmt }), { phase: 'blocked', reason: /never formatted again/ }],
  ['mounted x filesystem UUID differs from the record: blocked', input({ volumes: [volume()], devices: { n1: { 'vol-1': device({ mount: null, signature: { type: 'ext4', uuid: 'other', partition: null } }) } }, statuses: fmt }), { phase: 'blocked', reason: /not the recorded uuid-1/ }],
  ['mounted x ATTACHED (formatted, unmounted): mount (fsck first) on n1', input({ volumes: [volume()], devices: { n1: { 'vol-1': device(unmounted) } }, statuses: fmt }), { action: 'mount', on: 'node:n1', args: { path: '/mnt/dvm/a', filesystem: 'ext4' } }],
  ['mounted x ATTACHED, explicit mount path', input({ datasets: { [ID]: desired({ mount: '/mnt/dvm/db/main' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device(unmounted) } }, statuses: fmt }), { action: 'mount', on: 'node:n1', args: { path: '/mnt/dvm/db/main' } }],
  ['mounted x mount path outside the mount root: blocked', input({ datasets: { [ID]: desired({ mount: '/etc/a' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device(unmounted) } }, statuses: fmt }), { phase: 'blocked', reason: /not under the mount root/ }],
  ['mounted x mount path inside another dataset\'s mount: blocked', input({ datasets: { [ID]: desired({ mount: '/mnt/dvm/b/a' }), [did(2)]: desired({ name: 'b' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device(unmounted) } }, statuses: fmt }), { phase: 'blocked', reason: /inside dataset 'b''s mount/ }],
  ['mounted x a stray mount at its path: blocked', input({ volumes: [volume()], devices: { n1: { 'vol-1': device(unmounted) } }, statuses: fmt, nodes: { n1: { state: { ...input().nodes.n1.state!, devices: { 'vol-1': device(unmounted) }, stray_mounts: ['/mnt/dvm/a'] } } } }), { phase: 'blocked', reason: /something else is mounted at/ }],
  ['mounted x app not defined on n1: blocked', input({ datasets: { [ID]: desired({ app: 'pg' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt }), { phase: 'blocked', reason: /application 'pg' is not defined on node 'n1'/ }],
  ['mounted x MOUNTED rw: converged', input({ volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt }), { phase: 'converged', reason: /^$/ }],
  ['mounted x MOUNTED read-only (fsck left errors): degraded, saying so', input({ volumes: [volume()], devices: { n1: { 'vol-1': device({ mount: { path: '/mnt/dvm/a', read_only: true } }) } }, statuses: { [ID]: status(ID, { formatted: FORMATTED(), fsck: { volume: 'vol-1', node: 'n1', code: 4, at: NOW } }) } }), { phase: 'degraded', reason: /read-only .*fsck exit 4/ }],
  ['mounted x MOUNTED at another path: unmount first', input({ volumes: [volume()], devices: { n1: { 'vol-1': device({ mount: { path: '/mnt/dvm/old', read_only: false } }) } }, statuses: fmt }), { action: 'unmount', on: 'node:n1', args: { path: '/mnt/dvm/old' } }],
  ['mounted x device reads failing while mounted: degraded', input({ volumes: [volume()], devices: { n1: { 'vol-1': device({ blank: null, signature: null, error: 'EIO' }) } }, statuses: fmt }), { phase: 'degraded', reason: /cannot be read/ }],
  // ---- resize ----
  ['grow x volume smaller than asked: resize (credentialed)', input({ datasets: { [ID]: desired({ size: 128 * MiB }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt }), { action: 'resize', on: 'credentialed', args: { size: 128 * MiB } }],
  ['grow x volume grown, device not yet: refresh on n1', input({ datasets: { [ID]: desired({ size: 128 * MiB }) }, volumes: [volume({ size: 128 * MiB })], devices: { n1: { 'vol-1': device() } }, statuses: fmt }), { action: 'refresh', on: 'node:n1' }],
  ['grow x device grown, filesystem not: grow-fs online on n1', input({ datasets: { [ID]: desired({ size: 128 * MiB }) }, volumes: [volume({ size: 128 * MiB })], devices: { n1: { 'vol-1': device({ size: 128 * MiB }) } }, statuses: fmt }), { action: 'grow-fs', on: 'node:n1', args: { size: 128 * MiB } }],
  ['grow x past the byte quota: blocked', input({ datasets: { [ID]: desired({ size: 128 * MiB }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt, limits: { max_bytes: 100 * MiB } }), { phase: 'blocked', reason: /growing to 128M would pass/ }],
  ['smaller size without a shrink request: never a shrink (converged)', input({ datasets: { [ID]: desired({ size: 32 * MiB }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt }), { phase: 'converged', reason: /^$/ }],
  ['shrink asked, snapshot-capable: snapshot first', input({ datasets: { [ID]: desired({ size: 32 * MiB, shrink_to: 32 * MiB }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt }), { action: 'snapshot', on: 'credentialed', args: { to: 32 * MiB } }],
  ['shrink asked, no snapshots: unmount (offline)', input({ datasets: { [ID]: desired({ size: 32 * MiB, shrink_to: 32 * MiB }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt, limits: { can_snapshot: false } }), { action: 'unmount', on: 'node:n1' }],
  ['shrink started, unmounted: shrink-fs on n1', input({ datasets: { [ID]: desired({ size: 32 * MiB, shrink_to: 32 * MiB }) }, volumes: [volume()], devices: { n1: { 'vol-1': device(unmounted) } }, statuses: { [ID]: status(ID, { formatted: FORMATTED(), markers: { shrink_started: { volume: 'vol-1', from: 64 * MiB, to: 32 * MiB, snapshot: 'snap-1', at: NOW } } }) } }), { action: 'shrink-fs', on: 'node:n1', args: { to: 32 * MiB } }],
  ['shrink started, filesystem shrunk, snapshot held: check the filesystem offline on n1', input({ datasets: { [ID]: desired({ size: 32 * MiB, shrink_to: 32 * MiB }) }, volumes: [volume()], devices: { n1: { 'vol-1': device({ mount: null, fs_size: 32 * MiB }) } }, statuses: { [ID]: status(ID, { formatted: FORMATTED(), markers: { shrink_started: { volume: 'vol-1', from: 64 * MiB, to: 32 * MiB, snapshot: 'snap-1', at: NOW } } }) } }), { action: 'fsck', on: 'node:n1', args: { to: 32 * MiB } }],
  ['shrink started, filesystem shrunk and checked: the snapshot goes before the volume shrinks, the marker kept', input({ datasets: { [ID]: desired({ size: 32 * MiB, shrink_to: 32 * MiB }) }, volumes: [volume()], devices: { n1: { 'vol-1': device({ mount: null, fs_size: 32 * MiB }) } }, statuses: { [ID]: status(ID, { formatted: FORMATTED(), markers: { shrink_started: { ...{ volume: 'vol-1', from: 64 * MiB, to: 32 * MiB, snapshot: 'snap-1', at: NOW }, checked: { code: 1, at: NOW } } } }) } }), { action: 'remove-snapshot', on: 'credentialed', args: { snapshot: 'snap-1', keep_marker: true } }],
  ['shrink started, the shrunk filesystem has errors left: degraded before the volume shrinks, the snapshot kept', input({ datasets: { [ID]: desired({ size: 32 * MiB, shrink_to: 32 * MiB }) }, volumes: [volume()], devices: { n1: { 'vol-1': device({ mount: null, fs_size: 32 * MiB }) } }, statuses: { [ID]: status(ID, { formatted: FORMATTED(), markers: { shrink_started: { ...{ volume: 'vol-1', from: 64 * MiB, to: 32 * MiB, snapshot: 'snap-1', at: NOW }, checked: { code: 4, at: NOW } } } }) } }), { phase: 'degraded', reason: /snapshot 'snap-1', taken before the shrink, is kept/ }],
  ['shrink started, filesystem shrunk, snapshot removed: resize the volume down (credentialed)', input({ datasets: { [ID]: desired({ size: 32 * MiB, shrink_to: 32 * MiB }) }, volumes: [volume()], devices: { n1: { 'vol-1': device({ mount: null, fs_size: 32 * MiB }) } }, statuses: { [ID]: status(ID, { formatted: FORMATTED(), markers: { shrink_started: { volume: 'vol-1', from: 64 * MiB, to: 32 * MiB, snapshot: null, at: NOW, checked: { code: 0, at: NOW } } } }) } }), { action: 'resize', on: 'credentialed', args: { size: 32 * MiB, shrink: true } }],
  ['shrink done, snapshot already removed: the marker is cleared on n1', input({ datasets: { [ID]: desired({ size: 32 * MiB, shrink_to: 32 * MiB }) }, volumes: [volume({ size: 32 * MiB })], devices: { n1: { 'vol-1': device({ mount: null, size: 32 * MiB, fs_size: 32 * MiB }) } }, statuses: { [ID]: status(ID, { formatted: FORMATTED(), markers: { shrink_started: { volume: 'vol-1', from: 64 * MiB, to: 32 * MiB, snapshot: null, at: NOW, checked: { code: 0, at: NOW } } } }) } }), { action: 'record', on: 'node:n1', args: { clear: 'shrink_started' } }],
  ['volume shrunk with its snapshot (an older agent), not yet checked: mounted again first (its fsck decides the snapshot)', input({ datasets: { [ID]: desired({ size: 32 * MiB, shrink_to: 32 * MiB }) }, volumes: [volume({ size: 32 * MiB })], devices: { n1: { 'vol-1': device({ mount: null, size: 32 * MiB, fs_size: 32 * MiB }) } }, statuses: { [ID]: status(ID, { formatted: FORMATTED(), markers: { shrink_started: { volume: 'vol-1', from: 64 * MiB, to: 32 * MiB, snapshot: 'snap-1', at: NOW } } }) } }), { action: 'mount', on: 'node:n1' }],
  ['volume shrunk with its snapshot (an older agent), its fsck passed: remove its snapshot', input({ datasets: { [ID]: desired({ size: 32 * MiB, shrink_to: 32 * MiB }) }, volumes: [volume({ size: 32 * MiB })], devices: { n1: { 'vol-1': device({ size: 32 * MiB, fs_size: 32 * MiB }) } }, statuses: { [ID]: status(ID, { formatted: FORMATTED(), markers: { shrink_started: { volume: 'vol-1', from: 64 * MiB, to: 32 * MiB, snapshot: 'snap-1', at: NOW, checked: { code: 1, at: NOW } } } }) } }), { action: 'remove-snapshot', on: 'credentialed', args: { snapshot: 'snap-1' } }],
  ['volume shrunk with its snapshot (an older agent), its fsck left errors: degraded, the snapshot kept', input({ datasets: { [ID]: desired({ size: 32 * MiB, shrink_to: 32 * MiB }) }, volumes: [volume({ size: 32 * MiB })], devices: { n1: { 'vol-1': device({ size: 32 * MiB, fs_size: 32 * MiB, mount: { path: '/mnt/dvm/a', read_only: true } }) } }, statuses: { [ID]: status(ID, { formatted: FORMATTED(), markers: { shrink_started: { volume: 'vol-1', from: 64 * MiB, to: 32 * MiB, snapshot: 'snap-1', at: NOW, checked: { code: 4, at: NOW } } } }) } }), { phase: 'degraded', reason: /snapshot 'snap-1', taken before the shrink, is kept/ }],
  ['shrink of xfs: blocked', input({ datasets: { [ID]: desired({ size: 32 * MiB, shrink_to: 32 * MiB, filesystem: 'xfs' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device({ signature: { type: 'xfs', uuid: 'uuid-1', partition: null } }) } }, statuses: { [ID]: status(ID, { formatted: { ...FORMATTED()!, filesystem: 'xfs' } }) } }), { phase: 'blocked', reason: /xfs filesystem cannot shrink/ }],
  ['shrink on a backend that cannot: blocked', input({ datasets: { [ID]: desired({ size: 32 * MiB, shrink_to: 32 * MiB }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt, limits: { can_shrink: false } }), { phase: 'blocked', reason: /backend cannot shrink/ }],
  // ---- move: desired n2, attached to n1 ----
  ['move x mounted on n1: unmount on n1 first', input({ datasets: { [ID]: desired({ node: 'n2' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt }), { action: 'unmount', on: 'node:n1', args: { path: '/mnt/dvm/a' } }],
  ['move x target n2 down: nothing is unmounted (the move cannot finish)', input({ datasets: { [ID]: desired({ node: 'n2' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt, nodes: { n2: { alive: false } } }), { phase: 'waiting', reason: /cannot finish .* stays on node 'n1'/ }],
  ['move x target n2 at its per-node limit: blocked before unmount', input({ datasets: { [ID]: desired({ node: 'n2' }), [did(5)]: desired({ name: 'e', node: 'n2' }) }, volumes: [volume(), volume({ id: 'vol-5', dataset: did(5), attached: 'n2' })], devices: { n1: { 'vol-1': device() }, n2: { 'vol-5': device({ path: '/dev/x5', mount: { path: '/mnt/dvm/e', read_only: false } }) } }, statuses: { ...fmt, [did(5)]: status(did(5), { formatted: FORMATTED('vol-5') }) }, limits: { per_node: 1 } }), { phase: 'blocked', reason: /cannot finish .*limit per node/ }],
  ['move x unmounted on n1: release on n1', input({ datasets: { [ID]: desired({ node: 'n2' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device(unmounted) } }, statuses: fmt }), { action: 'release', on: 'node:n1' }],
  ['move x device held open on n1: waiting, not released', input({ datasets: { [ID]: desired({ node: 'n2' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device({ mount: null, held: true }) } }, statuses: fmt }), { phase: 'waiting', reason: /held open/ }],
  ['move x released on n1 (its state shows no device): detach (credentialed)', input({ datasets: { [ID]: desired({ node: 'n2' }) }, volumes: [volume()], statuses: fmt }), { action: 'detach', on: 'credentialed', args: { node: 'n1' } }],
  ['move x detached: attach to n2', input({ datasets: { [ID]: desired({ node: 'n2' }) }, volumes: [volume({ attached: null, status: 'available' })], statuses: fmt }), { action: 'attach', on: 'credentialed', args: { node: 'n2' } }],
  ['move x n1 has not reported yet: waiting (a detach waits for its unmount)', input({ datasets: { [ID]: desired({ node: 'n2' }) }, volumes: [volume()], statuses: fmt, nodes: { n1: { state: null } } }), { phase: 'waiting', reason: /has not reported its devices yet/ }],
  ['ATT_DEAD_NODE x backend cannot confirm: waiting, not detached', input({ datasets: { [ID]: desired({ node: 'n2' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt, nodes: { n1: { alive: false } } }), { phase: 'waiting', reason: /whose agent is not running; it is detached only once/ }],
  ['ATT_DEAD_NODE x backend confirms the node gone: detach', input({ datasets: { [ID]: desired({ node: 'n2' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt, nodes: { n1: { alive: false } }, listing: { live_nodes: ['c', 'n2'] } }), { action: 'detach', on: 'credentialed', args: { node: 'n1', confirmed_gone: true } }],
  ['ATT_FENCED_NODE x move away: detach without its unmount (backend cannot tell)', input({ datasets: { [ID]: desired({ node: 'n2' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt, nodes: fencedN1 }), { action: 'detach', on: 'credentialed', args: { node: 'n1', confirmed_gone: true, fenced: true } }],
  ['ATT_FENCED_NODE x the backend says it is alive: the fence still wins (the operator cut it off)', input({ datasets: { [ID]: desired({ node: 'n2' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt, nodes: fencedN1, listing: { live_nodes: ['c', 'n1', 'n2'] } }), { action: 'detach', on: 'credentialed', args: { node: 'n1', fenced: true } }],
  ['ATT_FENCED_NODE that never reported x move away: detach', input({ datasets: { [ID]: desired({ node: 'n2' }) }, volumes: [volume()], statuses: fmt, nodes: { n1: { state: null, alive: false, fenced: FENCE } } }), { action: 'detach', on: 'credentialed', args: { node: 'n1', fenced: true } }],
  ['FENCED_NODE stale record x moved, attached to n2: n1\'s last state is not a device (connect on n2)', input({ datasets: { [ID]: desired({ node: 'n2' }) }, volumes: [volume({ attached: 'n2' })], devices: { n1: { 'vol-1': device() } }, statuses: fmt, nodes: fencedN1 }), { action: 'connect', on: 'node:n2' }],
  ['FENCED_NODE x detached, desired there: not attached to it', input({ volumes: [volume({ attached: null, status: 'available' })], statuses: fmt, nodes: fencedN1 }), { phase: 'waiting', reason: /not attached: node 'n1' is fenced since .* by root@ops \(powered off\)/ }],
  ['FENCED_NODE x desired and attached there: waiting, nothing done there, saying how out', input({ volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt, nodes: fencedN1 }), { phase: 'waiting', reason: /node 'n1' is fenced .*dataset move a --to NODE.*dataset node unfence n1/ }],
  ['FENCED_NODE x move to it: cannot finish, nothing unmounted', input({ datasets: { [ID]: desired({ node: 'n1' }) }, volumes: [volume({ attached: 'n2' })], devices: { n2: { 'vol-1': device() } }, statuses: fmt, nodes: fencedN1 }), { phase: 'waiting', reason: /cannot finish \(node 'n1' is fenced/ }],
  ['deleted x attached to a FENCED_NODE: detach without its unmount', input({ datasets: { [ID]: desired({ deleted: true }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt, nodes: fencedN1 }), { action: 'detach', on: 'credentialed', args: { node: 'n1', fenced: true } }],
  ['deleted x detached from a FENCED_NODE whose last state shows it: destroy', input({ datasets: { [ID]: desired({ deleted: true }) }, volumes: [volume({ attached: null, status: 'available' })], devices: { n1: { 'vol-1': device() } }, statuses: fmt, nodes: fencedN1 }), { action: 'destroy', on: 'credentialed' }],
  ['stale device on n2 of a volume attached to n1: released on n2 first', input({ volumes: [volume()], devices: { n1: { 'vol-1': device() }, n2: { 'vol-1': device({ path: '/dev/memory/n2/vdb', mount: null }) } }, statuses: fmt }), { action: 'release', on: 'node:n2' }],
  // ---- desired NON_MANIFEST (node null) ----
  ['non-manifest x NON_EXISTENT: create', input({ datasets: { [ID]: desired({ node: null }) }, volumes: [] }), { action: 'create', on: 'credentialed' }],
  ['non-manifest x NON_MANIFEST: converged', input({ datasets: { [ID]: desired({ node: null }) }, volumes: [volume({ attached: null, status: 'available' })], statuses: fmt }), { phase: 'converged', reason: /^$/ }],
  ['non-manifest x MOUNTED on n1: unmount', input({ datasets: { [ID]: desired({ node: null }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt }), { action: 'unmount', on: 'node:n1' }],
  ['non-manifest x ATTACHED, no device: detach', input({ datasets: { [ID]: desired({ node: null }) }, volumes: [volume()], statuses: fmt }), { action: 'detach', on: 'credentialed' }],
  // ---- desired DELETED ----
  ['deleted x NON_EXISTENT: converged', input({ datasets: { [ID]: desired({ deleted: true }) }, volumes: [] }), { phase: 'converged', reason: /^$/ }],
  ['deleted x NON_MANIFEST: destroy', input({ datasets: { [ID]: desired({ deleted: true }) }, volumes: [volume({ attached: null, status: 'available' })], statuses: fmt }), { action: 'destroy', on: 'credentialed' }],
  ['deleted x MOUNTED: unmount first', input({ datasets: { [ID]: desired({ deleted: true }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt }), { action: 'unmount', on: 'node:n1' }],
  ['deleted x attached, released: detach', input({ datasets: { [ID]: desired({ deleted: true }) }, volumes: [volume()], statuses: fmt }), { action: 'detach', on: 'credentialed' }],
  ['deleted x bound to an application: blocked, not destroyed', input({ datasets: { [ID]: desired({ deleted: true, app: 'pg' }) }, volumes: [volume({ attached: null, status: 'available' })], statuses: fmt }), { phase: 'blocked', reason: /bound to application 'pg'/ }],
  ['deleted x deleting (eventual consistency): waiting', input({ datasets: { [ID]: desired({ deleted: true }) }, volumes: [volume({ attached: null, status: 'deleting' })], statuses: fmt }), { phase: 'waiting', reason: /being deleted/ }],
  // ---- adopt ----
  ['adopt x UNREGISTERED: set-metadata (credentialed)', input({ datasets: { [ID]: desired({ volume: 'vol-1' }) }, volumes: [volume({ dataset: null, attached: null, status: 'available' })] }), { action: 'set-metadata', on: 'credentialed', args: { dataset: ID } }],
  ['adopt x volume of another dataset: blocked', input({ datasets: { [ID]: desired({ volume: 'vol-1' }) }, volumes: [volume({ dataset: did(9), attached: null, status: 'available' })] }), { phase: 'blocked', reason: /belongs to another dataset/ }],
  ['adopt x not listed: blocked', input({ datasets: { [ID]: desired({ volume: 'vol-1' }) }, volumes: [] }), { phase: 'blocked', reason: /to adopt is not in the backend listing/ }],
  ['adopt x holds a filesystem, no record: record it (never formatted)', input({ datasets: { [ID]: desired({ volume: 'vol-1' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device(unmounted) } } }), { action: 'record', on: 'node:n1' }],
  ['adopt x holds something that is not a filesystem: blocked', input({ datasets: { [ID]: desired({ volume: 'vol-1' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device({ ...BLANK, blank: false, error: 'a gpt partition table' }) } } }), { phase: 'blocked', reason: /never formatted/ }],
];

function nodesOf(i: PlanInput): { node: string; credentialed: boolean }[] {
  return [{ node: 'c', credentialed: true }, { node: 'n1', credentialed: false }, { node: 'n2', credentialed: false }];
}

function checkPlan(p: PlanDoc, i: PlanInput): void {
  validate('dvm.dataset-plan/1', JSON.parse(JSON.stringify(p)));
  const seen = new Set<string>();
  for (const s of [...p.steps, ...p.waiting_for]) {
    assert.not.ok(seen.has(s.dataset), `one step per dataset (${s.dataset})`);
    seen.add(s.dataset);
  }
  for (const id of Object.keys(i.desired.datasets)) {
    const st = p.datasets[id];
    assert.ok(st, `dataset ${id} has a phase`);
    if (st.phase === 'converged') assert.is(st.reason, null);
    else assert.ok(st.reason && st.reason.length > 10, `a reason in words for ${st.phase}`);
  }
}

for (const [name, inp, want] of cells) {
  test(name, () => {
    const plans = nodesOf(inp).map((n) => ({ ...n, p: plan({ ...inp, node: n.node, credentialed: n.credentialed }) }));
    for (const { p } of plans) checkPlan(p, inp);
    const mine = plans.find((x) => x.node === inp.node)!.p;
    if ('action' in want) {
      const all = [...mine.steps, ...mine.waiting_for].filter((s) => s.dataset === ID);
      assert.is(all.length, 1, `one step for the dataset: ${JSON.stringify(mine.datasets[ID])}`);
      assert.is(all[0].action, want.action);
      assert.is(all[0].runs_on, want.on);
      for (const [k, v] of Object.entries(want.args ?? {})) assert.equal(all[0].args[k], v, `args.${k}`);
      assert.ok(all[0].expect.length > 5 && all[0].deadline_ms > 0);
      // Exactly the node that runs it has it in `steps`; everyone else waits for it.
      for (const { node, credentialed, p } of plans) {
        const runs = want.on === 'credentialed' ? credentialed : want.on === `node:${node}`;
        assert.is(p.steps.filter((s) => s.dataset === ID).length, runs ? 1 : 0, `steps on ${node}`);
        assert.is(p.waiting_for.filter((s) => s.dataset === ID).length, runs ? 0 : 1, `waiting_for on ${node}`);
        assert.ok(['pending', 'waiting'].includes(p.datasets[ID].phase));
      }
    } else {
      for (const { p } of plans) {
        assert.is(p.steps.filter((s) => s.dataset === ID).length + p.waiting_for.filter((s) => s.dataset === ID).length, 0, `no step: ${JSON.stringify(p.steps)}`);
        assert.is(p.datasets[ID].phase, want.phase, p.datasets[ID].reason ?? '');
        if (want.phase !== 'converged') assert.match(p.datasets[ID].reason!, want.reason);
      }
    }
  });
}

test('a volume with no desired entry is reported orphaned and never touched', () => {
  const i = input({ datasets: {}, volumes: [volume({ dataset: did(7) })], devices: { n1: { 'vol-1': device() } } });
  for (const n of ['c', 'n1']) {
    const p = plan({ ...i, node: n, credentialed: n === 'c' });
    assert.is(p.steps.length + p.waiting_for.length, 0);
    assert.is(p.datasets['vol-1'].phase, 'orphaned');
    assert.match(p.datasets['vol-1'].reason!, /no desired entry; left as it is/);
  }
});

test('a second volume carrying one dataset id is reported, and the recorded one is used', () => {
  const i = input({ volumes: [volume({ id: 'vol-0', attached: null, status: 'available' }), volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt });
  const p = plan(i);
  assert.is(p.datasets[ID].phase, 'converged');
  assert.is(p.datasets['vol-0'].phase, 'orphaned');
  assert.match(p.datasets['vol-0'].reason!, /second volume for dataset 'a' \(which uses 'vol-1'\)/);
  assert.is(p.steps.length + p.waiting_for.length, 0, 'no create, no destroy of the duplicate');
});

test('a step for a node or credentialed agent that is not running: listed in waiting_for, phase waiting, saying so', () => {
  const p = plan(input({ volumes: [], node: 'n1', credentialed: false, nodes: { c: { alive: false } } }));
  assert.is(p.steps.length, 0);
  assert.is(p.waiting_for.length, 1);
  assert.is(p.waiting_for[0].action, 'create');
  assert.is(p.datasets[ID].phase, 'waiting');
  assert.match(p.datasets[ID].reason!, /no credentialed agent is running/);
  const q = plan(input({ volumes: [volume()], devices: { n1: { 'vol-1': device(BLANK) } }, nodes: { n1: { alive: false } } }));
  assert.is(q.waiting_for[0].action, 'mkfs');
  assert.is(q.datasets[ID].phase, 'waiting');
  assert.match(q.datasets[ID].reason!, /node 'n1' is not running an agent/);
});

test('mounted on a node whose agent is not running: waiting with its last state, not converged; a move away waits too', () => {
  const p = plan(input({ volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt, node: 'n2', nodes: { n1: { alive: false } } }));
  assert.is(p.datasets[ID].phase, 'waiting');
  assert.match(p.datasets[ID].reason!, /node 'n1' is not running an agent .*last seen \(.+\) mounted at '\/mnt\/dvm\/a'.*stays attached there/);
  const q = plan(input({ datasets: { [ID]: desired({ node: 'n2' }) }, volumes: [volume()], devices: { n1: { 'vol-1': device() } }, statuses: fmt, node: 'n2', credentialed: true, nodes: { n1: { alive: false } } }));
  assert.is(q.steps.length + q.waiting_for.length, 0, 'no detach, no attach elsewhere while n1 may still write');
  assert.is(q.datasets[ID].phase, 'waiting');
  assert.match(q.datasets[ID].reason!, /attached to node 'n1', whose agent is not running; it is detached only once/);
});

test('the plan is a pure function: the same input gives the same plan', () => {
  for (const [, inp] of cells.slice(0, 20)) assert.equal(plan(inp), plan(structuredClone(inp)));
});

test.run();
