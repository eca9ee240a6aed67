// The OpenStack backend against a real Cinder (Debian's python3-cinder, one
// process, noauth, the file volume double) with the Nova double and the
// fault proxy (test doubles, test/helpers/openstack/). One Cinder for the
// whole file.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { isBackendError, type BackendError, type CreateRequest } from '../../src/agent/backend/types.js';
import { GiB } from '../../src/agent/backends/openstack/control.js';
import { META_CLUSTER, META_DATASET } from '../../src/agent/backends/openstack/meta.js';
import { CLUSTER, PROJECT, startTestCloud, type TestCloud } from '../helpers/openstack/cloud.js';
import { LINK_FORMS, linkName } from '../helpers/openstack/nova-double.js';

let cloud: TestCloud;
const t0 = Date.now();

// Set up once, on first use: an error here then fails each test loudly (uvu's before hook would hide it).
let ready: Promise<void> | null = null;
const setup = () => (ready ??= start());

async function start(): Promise<void> {
  cloud = await startTestCloud();
  console.log(`cinder answered after ${cloud.cinder.startMs} ms`);
}

test.after(async () => {
  await cloud?.stop();
  console.log(`openstack-cinder: ${Math.round((Date.now() - t0) / 1000)} s in all`);
});

const req = (name: string, size = GiB): CreateRequest => ({ cluster: CLUSTER, dataset: randomUUID(), name: `dvm-${name}`, size, metadata: { 'dvm.note': name } });

async function rejects(p: Promise<unknown>, kind: BackendError['kind'], pattern?: RegExp): Promise<BackendError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isBackendError(e, kind), `expected ${kind}, got ${(e as Error)?.name} ${(e as BackendError).kind}: ${(e as Error).message}`);
    if (pattern) assert.match((e as Error).message, pattern);
    return e as BackendError;
  }
  assert.unreachable(`expected a ${kind} error`);
  throw new Error('unreachable');
}

test('lifecycle: create, list by metadata, attach, find by serial, grow in use, detach, move, destroy', async () => {
  await setup();
  const a = cloud.backend('node-a');
  const b = cloud.backend('node-b');
  const r = req('life', 1);
  const v = await a.control!.create(r);
  assert.is(v.size, GiB, 'rounded up to the 1 GiB allocation unit');
  assert.is(v.status, 'available');
  assert.is(v.name, 'dvm-life');
  assert.is(v.dataset, r.dataset);
  assert.is(v.metadata[META_CLUSTER], CLUSTER);
  assert.is(v.metadata['dvm.note'], 'life');
  const again = await a.control!.create(r);
  assert.is(again.id, v.id, 'a repeated create finds the volume instead of making another');
  const listed = (await a.control!.list()).filter((x) => x.dataset === r.dataset);
  assert.equal(listed.map((x) => x.id), [v.id]);

  const att = await a.control!.attach(v.id, 'node-a');
  assert.is(att.status, 'in-use');
  assert.is(att.attached, 'node-a');
  const dev = await a.node.findDevice(att);
  assert.ok(dev, 'the device is found by its serial');
  assert.match(dev!.path, /^\/dev\/loop\d+$/);
  assert.is(dev!.size, GiB);
  assert.is(await a.node.verifyDevice(att, dev!.path), null);
  assert.match((await a.node.verifyDevice(att, '/dev/null')) ?? '', /is not volume/);
  assert.is(await b.node.findDevice(att), null, 'node-b sees no device for a volume attached to node-a');
  const e = await rejects(a.control!.attach(v.id, 'node-b'), 'already-attached');
  assert.is(e.node, 'node-a', 'the error names the node it is attached to');
  assert.is((await rejects(a.control!.attach(v.id, 'node-a'), 'already-attached')).node, 'node-a');
  assert.is((await rejects(a.control!.destroy(v.id), 'already-attached')).node, 'node-a');

  const grown = await a.control!.resize(v.id, 2 * GiB);
  assert.is(grown.size, 2 * GiB);
  assert.is(grown.status, 'in-use', 'grown while attached (microversion 3.42+)');
  const refreshed = await a.node.refresh(grown);
  assert.is(refreshed?.size, 2 * GiB, 'the node sees the new size');
  assert.is((await a.control!.resize(v.id, 2 * GiB)).size, 2 * GiB, 'resize to the current size is success');
  await rejects(a.control!.resize(v.id, GiB), 'unsupported', /cannot shrink/);

  await a.node.release(grown);
  await a.control!.detach(v.id);
  await rejects(a.control!.detach(v.id), 'not-attached');
  const moved = await a.control!.attach(v.id, 'node-b');
  assert.is(moved.attached, 'node-b');
  const devB = await b.node.findDevice(moved);
  assert.is(devB?.size, 2 * GiB);
  await a.control!.detach(v.id);
  await a.control!.destroy(v.id);
  assert.is((await a.control!.list()).filter((x) => x.id === v.id).length, 0);
  await rejects(a.control!.destroy(v.id), 'unknown-volume');
  await rejects(a.control!.attach(v.id, 'node-a'), 'unknown-volume');
  await rejects(a.control!.detach(v.id), 'unknown-volume');
  await rejects(a.control!.attach(randomUUID(), 'node-a'), 'unknown-volume');
  await rejects(a.control!.attach('../../etc', 'node-a'), 'invalid');
});

test('listing is filtered by the cluster server-side and paged to the end', async () => {
  await setup();
  // unclaimedMs null: only the filtered listing (the look for adoptable volumes is the next test's).
  const a = cloud.backend('node-a', { unclaimedMs: null });
  const other = cloud.backend('node-a', { cluster: randomUUID() });
  const mine = [];
  for (let i = 0; i < 3; i++) mine.push(await a.control!.create(req(`page${i}`)));
  const theirs = await other.control!.create({ ...req('theirs'), cluster: (other.control as any).o.cluster });
  cloud.proxy.passed.length = 0;
  // Page size 200 is the default; a smaller page proves the marker is followed.
  const listed = await a.control!.list();
  const ids = listed.map((v) => v.id);
  for (const v of mine) assert.ok(ids.includes(v.id));
  assert.not.ok(ids.includes(theirs.id), "another cluster's volume is not listed");
  const q = cloud.proxy.passed.filter((l) => l.includes('/volumes/detail'));
  assert.ok(q.every((l) => decodeURIComponent(l).includes(`"${META_CLUSTER}":"${CLUSTER}"`)), `filtered server-side: ${q.join(' ')}`);
  for (const v of [...mine]) await a.control!.destroy(v.id);
  await other.control!.destroy(theirs.id);
});

test('a volume no cluster claims is listed (dataset null) from a whole-project look made at most every unclaimedMs; adopting claims it', async () => {
  await setup();
  const a = cloud.backend('node-a', { unclaimedMs: 60_000 });
  const other = cloud.backend('node-a', { cluster: randomUUID(), unclaimedMs: null });
  // Made outside dvm: a plain Cinder volume with no metadata of ours.
  const made = await fetch(`${cloud.cinder.url}/v3/${PROJECT}/volumes`, {
    method: 'POST',
    headers: { 'X-Auth-Token': `admin:${PROJECT}`, 'Content-Type': 'application/json', 'OpenStack-API-Version': 'volume 3.50' },
    body: JSON.stringify({ volume: { size: 1, name: 'made-by-hand' } }),
  });
  assert.is(made.status, 202, await made.clone().text());
  const plain: string = (await made.json()).volume.id;
  for (let i = 0; i < 100 && (await cloud.cinderGet(`/volumes/${plain}`)).volume.status !== 'available'; i++) await new Promise((r) => setTimeout(r, 200));
  const theirs = await other.control!.create({ ...req('claimed-elsewhere'), cluster: (other.control as any).o.cluster });

  cloud.proxy.passed.length = 0;
  const first = await a.control!.list();
  const hand = first.find((v) => v.id === plain);
  assert.ok(hand, 'the unclaimed volume is listed');
  assert.is(hand!.dataset, null, 'as no dataset\'s');
  assert.not.ok(first.some((v) => v.id === theirs.id), "a volume another cluster claims is not");
  const unfiltered = () => cloud.proxy.passed.filter((l) => l.includes('/volumes/detail') && !decodeURIComponent(l).includes(META_CLUSTER)).length;
  assert.is(unfiltered(), 1, 'one whole-project listing');
  await a.control!.list();
  await a.control!.list();
  assert.is(unfiltered(), 1, 'not repeated within unclaimedMs: the filtered listing alone');

  // adopt: the agent claims it by setting the cluster and dataset ids.
  const dataset = randomUUID();
  await a.control!.setMetadata(plain, { [META_CLUSTER]: CLUSTER, [META_DATASET]: dataset });
  const after = (await a.control!.list()).filter((v) => v.id === plain);
  assert.is(after.length, 1, 'listed once');
  assert.is(after[0].dataset, dataset, 'now the dataset\'s');
  assert.not.ok((await other.control!.list()).some((v) => v.id === plain), 'and no longer anyone else\'s to adopt');
  await a.control!.destroy(plain);
  await other.control!.destroy(theirs.id);
});

test('the by-id forms hypervisors produce are all found; a late link is waited for; none is reported, never guessed', async () => {
  await setup();
  const a = cloud.backend('node-a', { deviceWaitMs: 4000 });
  const v = await a.control!.create(req('forms'));
  try {
    for (const form of LINK_FORMS) {
      cloud.nova.form = form;
      const att = await a.control!.attach(v.id, 'node-a');
      const dev = await a.node.findDevice(att);
      assert.ok(dev, `found in the ${form} form`);
      assert.is(dev!.identity, `by-id:${linkName(form, v.id)}`);
      assert.is(dev!.path, realpathSync(`/dev/${dev!.path.split('/').pop()}`));
      await a.control!.detach(v.id);
    }
    cloud.nova.form = 'virtio-full';
    cloud.nova.linkDelayMs = 1500;
    let att = await a.control!.attach(v.id, 'node-a');
    const t = Date.now();
    const late = await a.node.findDevice(att);
    assert.ok(late, 'a link that comes 1.5 s late is waited for');
    assert.ok(Date.now() - t >= 1000, 'and it was really late');
    await a.control!.detach(v.id);
    cloud.nova.linkDelayMs = 0;
    cloud.nova.noLink = true;
    att = await a.control!.attach(v.id, 'node-a');
    const t2 = Date.now();
    assert.is(await a.node.findDevice(att), null, 'no link: no device, whatever the attachment says');
    const waited = Date.now() - t2;
    assert.ok(waited >= 3500 && waited < 8000, `waited until the deadline (${waited} ms)`);
    await a.control!.detach(v.id);
  } finally {
    cloud.nova.noLink = false;
    cloud.nova.linkDelayMs = 0;
    cloud.nova.form = 'virtio-serial20';
    await a.control!.destroy(v.id).catch(() => undefined);
  }
});

test('a create whose answer is lost makes no second volume', async () => {
  await setup();
  const a = cloud.backend('node-a');
  const r = req('lost');
  cloud.proxy.inject('POST', /\/volumes$/, 'drop-response');
  const v = await a.control!.create(r);
  assert.equal(cloud.proxy.fired.filter((f) => f.startsWith('drop-response')).length, 1, 'the answer was dropped');
  assert.is(v.status, 'available');
  const all = (await cloud.cinderGet('/volumes/detail')).volumes.filter((x: any) => x.metadata?.[META_DATASET] === r.dataset);
  assert.is(all.length, 1, 'Cinder holds exactly one volume for the dataset');
  // Once more, as the next pass would after a crash: still one.
  await a.control!.create(r);
  assert.is((await cloud.cinderGet('/volumes/detail')).volumes.filter((x: any) => x.metadata?.[META_DATASET] === r.dataset).length, 1);
  await a.control!.destroy(v.id);
});

test('a 500 and a dropped connection while waiting are survived', async () => {
  await setup();
  const a = cloud.backend('node-a');
  cloud.proxy.fired.length = 0;
  cloud.proxy.inject('GET', /\/volumes\/[0-9a-f-]{36}$/, '500', 3);
  cloud.proxy.inject('GET', /\/volumes\/[0-9a-f-]{36}$/, 'reset', 2);
  const v = await a.control!.create(req('flaky'));
  assert.is(v.status, 'available');
  // One bad answer in each of the extend's first polls: the show before it, then the wait.
  cloud.proxy.inject('GET', /\/volumes\/[0-9a-f-]{36}$/, 'reset', 1);
  cloud.proxy.inject('GET', /\/volumes\/[0-9a-f-]{36}$/, '500', 1);
  const g = await a.control!.resize(v.id, 3 * GiB);
  assert.is(g.size, 3 * GiB);
  assert.ok(cloud.proxy.fired.filter((f) => f.startsWith('500')).length >= 4, cloud.proxy.fired.join('\n'));
  assert.ok(cloud.proxy.fired.filter((f) => f.startsWith('reset')).length >= 3, cloud.proxy.fired.join('\n'));
  // A 500 on the create itself is an error (nothing is repeated blindly), typed as unavailable.
  cloud.proxy.inject('POST', /\/volumes$/, '500');
  const r = req('five-hundred');
  await rejects(a.control!.create(r), 'unavailable', /HTTP 500/);
  await a.control!.destroy(v.id);
});

test('an attach stuck in attaching past its deadline is reported, then finished on a later pass without a second attach', async () => {
  await setup();
  const a = cloud.backend('node-a', { waitMs: 2500 });
  const v = await a.control!.create(req('stuck'));
  cloud.nova.stall = true;
  const posts = () => cloud.nova.requests.filter((l) => l.startsWith('POST') && l.endsWith('/os-volume_attachments')).length;
  const before = posts();
  const e = await rejects(a.control!.attach(v.id, 'node-a'), 'unavailable', /still attaching after 3s|still attaching after 2s/);
  assert.match(e.message, /next pass/);
  const listed = (await a.control!.list()).find((x) => x.id === v.id);
  assert.is(listed?.status, 'attaching', 'the listing shows the stuck state');
  cloud.nova.releaseStalled();
  const att = await a.control!.attach(v.id, 'node-a');
  assert.is(att.status, 'in-use');
  assert.is(posts() - before, 1, 'one attach request in all');
  assert.ok(await a.node.findDevice(att));
  await a.control!.detach(v.id);
  await a.control!.destroy(v.id);
});

test('limits come from Cinder: 1 GiB unit, the project quota less what others use', async () => {
  await setup();
  const a = cloud.backend('node-a', { perServer: 26 });
  const l = await a.control!.limits();
  assert.is(l.allocation_unit, GiB);
  assert.is(l.min_size, GiB);
  assert.is(l.per_node, 26);
  assert.is(l.can_shrink, false);
  const abs = (await cloud.cinderGet('/limits')).limits.absolute;
  assert.is(typeof abs.maxTotalVolumes, 'number');
  assert.is(l.max_volumes, abs.maxTotalVolumes < 0 ? null : abs.maxTotalVolumes - (abs.totalVolumesUsed - (await a.control!.list()).length));
  assert.is(l.max_bytes === null || l.max_bytes % GiB === 0, true);
});

test('live nodes are the ACTIVE Nova servers', async () => {
  await setup();
  const a = cloud.backend('node-a');
  assert.equal(await a.control!.liveNodes!(), ['node-a', 'node-b']);
});

test.run();
