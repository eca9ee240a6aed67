// The loop's pure parts: when it sleeps, who writes a dataset's status and what.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { CONVERGED_MS, ERROR_MAX_MS, initialBackoff, nextDelay, UNCONVERGED_MAX_MS, type Backoff, type Outcome } from '../../src/agent/loop/timing.js';
import { nextStatus, writesStatus } from '../../src/agent/loop/status.js';
import { desiredEntry, statusDoc } from '../helpers/store-contract.js';

const run = (outcomes: Outcome[], random = 0.5) => {
  let b: Backoff = initialBackoff();
  return outcomes.map((o) => {
    const n = nextDelay(o, b, random);
    b = n.backoff;
    return n.delayMs;
  });
};
const C: Outcome = { converged: true, progressed: false, failed: false };
const U: Outcome = { converged: false, progressed: false, failed: false };
const P: Outcome = { converged: false, progressed: true, failed: false };
const F: Outcome = { converged: false, progressed: false, failed: true };

test('converged: about 60 s with jitter of at most 10 %', () => {
  const lo = nextDelay(C, initialBackoff(), 0).delayMs;
  const hi = nextDelay(C, initialBackoff(), 0.999999).delayMs;
  assert.ok(lo >= CONVERGED_MS * 0.9 && hi <= CONVERGED_MS * 1.1 && hi - lo > CONVERGED_MS * 0.15, `${lo}..${hi}`);
});

test('not converged: 0.1 s growing x4 to 10 s; a successful step starts again at 0.1 s', () => {
  assert.equal(run([U, U, U, U, U, U]), [100, 400, 1600, 6400, UNCONVERGED_MAX_MS, UNCONVERGED_MAX_MS]);
  assert.equal(run([U, U, U, P, U]), [100, 400, 1600, 100, 400]);
});

test('errors back off: 1 s doubling to 60 s; a good pass resets it', () => {
  const d = run(Array(9).fill(F));
  assert.equal(d.slice(0, 4), [1000, 2000, 4000, 8000]);
  assert.is(d[8], ERROR_MAX_MS);
  assert.equal(run([F, F, C, F]).slice(2), [nextDelay(C, initialBackoff(), 0.5).delayMs, 1000]);
});

test('one writer per dataset: its node while that agent runs, else the leader', () => {
  const alive = { n1: { alive: true }, n2: { alive: true }, n3: { alive: false } };
  const d = (over: object) => desiredEntry('a', over);
  assert.ok(writesStatus(d({ node: 'n2' }), 'n2', false, alive));
  assert.not.ok(writesStatus(d({ node: 'n2' }), 'n1', true, alive), 'the leader leaves it to n2');
  assert.ok(writesStatus(d({ node: 'n3' }), 'n1', true, alive), "n3's agent is not running: the leader says why");
  assert.not.ok(writesStatus(d({ node: 'n3' }), 'n2', false, alive));
  assert.ok(writesStatus(d({ node: null }), 'n1', true, alive));
  assert.not.ok(writesStatus(d({ node: null }), 'n2', false, alive));
  assert.ok(writesStatus(d({ node: 'n2', deleted: true }), 'n1', true, alive));
  assert.not.ok(writesStatus(d({ node: 'n2', deleted: true }), 'n2', false, alive));
});

test('a status keeps its since while phase and reason stay; the last error stays until a step succeeds; markers and records are kept', () => {
  const id = randomUUID();
  const d = desiredEntry('a');
  const t1 = new Date('2026-01-01T00:00:00.000Z');
  const t2 = new Date('2026-01-01T00:01:00.000Z');
  const formatted = { volume: 'v1', filesystem: 'ext4' as const, uuid: 'u', at: t1.toISOString(), by: 'n1' };
  const cur = statusDoc(id, { phase: 'waiting', reason: 'r', since: t1.toISOString(), error: 'old failure', formatted, markers: { mkfs_started: { volume: 'v1', node: 'n1', at: t1.toISOString() } } });
  let s = nextStatus(cur, id, d, { phase: 'waiting', reason: 'r' }, undefined, null, 'n1', t2);
  assert.equal([s.since, s.error, s.formatted, s.desired_changed], [t1.toISOString(), 'old failure', formatted, d.changed]);
  assert.ok(s.markers.mkfs_started);
  const failedStep = { dataset: id, action: 'mount' as const, volume: 'v1', ok: false, message: 'mount: wrong fs type; password=hunter2', error_kind: null, started_at: t2.toISOString(), elapsed_ms: 3 };
  s = nextStatus(s, id, d, { phase: 'pending', reason: 'mounting' }, failedStep, null, 'n1', t2);
  assert.equal([s.phase, s.reason, s.since], ['error', 'mounting', t2.toISOString()]);
  assert.ok(s.error!.startsWith('mount: wrong fs type') && !s.error!.includes('hunter2'), s.error!);
  s = nextStatus(s, id, d, { phase: 'pending', reason: 'mounting' }, { ...failedStep, ok: true, message: null }, null, 'n1', t2);
  assert.is(s.error, null, 'cleared by a step that succeeded');
  s = nextStatus({ ...s, error: 'x' }, id, d, { phase: 'converged', reason: null }, undefined, null, 'n1', t2);
  assert.equal([s.phase, s.reason, s.error], ['converged', null, null]);
  s = nextStatus(null, id, d, { phase: 'pending', reason: '' }, undefined, null, 'n1', t2);
  assert.ok(s.reason && s.reason.length > 0, 'never pending without a reason');
});

test.run();
