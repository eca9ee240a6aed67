// dataset-local and dataset-apply as a user runs them: the battery (help,
// version, bad option, garbage stdin exits 3), refusals before anything is
// done (a plan for another node, a volume id outside the backend's pattern,
// credentialed steps without --credentialed), local discovery of a stray
// mount-free root, and the crash-test hook: DVM_AGENT_KILL_AT=k SIGKILLs the
// process at its k-th external-command boundary.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { assertOneLineError, cliBattery, runBin } from '../helpers/cli.js';
import { openStore } from '../../src/agent/store/open.js';

const dir = mkdtempSync(path.join(tmpdir(), 'dvm-apply-cli-'));
const storeDir = path.join(dir, 'store');
await (await openStore(storeDir, { create: true })).close();
const lb = path.join(dir, 'lb');
mkdirSync(lb, { mode: 0o700 });
const applyArgs = ['--node', 'n1', '--backend', `loopback:${lb}`, '--store', storeDir, '--mount-root', path.join(dir, 'mnt')];

cliBattery(test, 'dataset-local', { args: ['--node', 'n1'], readsStdin: false });
cliBattery(test, 'dataset-apply', { args: applyArgs });

const planDoc = (node: string, steps: unknown[]) => JSON.stringify({ format: 'dvm.dataset-plan/1', node, credentialed: false, steps, waiting_for: [], datasets: {} });
const step = (over: Record<string, unknown>) => ({ dataset: '00000000-0000-4000-8000-000000000001', action: 'mount', runs_on: 'node:n1', volume: 'lb-000001', args: {}, expect: 'mounted', deadline_ms: 1000, ...over });

test('dataset-local: no backend, an empty mount root: a valid node state with no devices', async () => {
  const r = await runBin('dataset-local', ['--node', 'n1', '--mount-root', path.join(dir, 'empty')]);
  assert.is(r.exitCode, 0, r.stderr);
  const st = JSON.parse(r.stdout);
  assert.is(st.format, 'dvm.node-state/1');
  assert.is(st.node, 'n1');
  assert.equal(st.devices, {});
  assert.equal(st.stray_mounts, []);
});

test('dataset-local: a bad node name or mount root exits 2; a listing that is not JSON exits 3', async () => {
  assertOneLineError(await runBin('dataset-local', ['--node', '../n1']), 'dataset-local', 2);
  assertOneLineError(await runBin('dataset-local', ['--node', 'n1', '--mount-root', '/srv/../etc']), 'dataset-local', 2);
  const bad = path.join(dir, 'bad.json');
  writeFileSync(bad, '{not json');
  assertOneLineError(await runBin('dataset-local', ['--node', 'n1', '--volumes', bad]), 'dataset-local', 3, 'bad.json');
});

test("dataset-apply: another node's plan, credentialed steps without --credentialed, a foreign volume id: refused before anything is done", async () => {
  assertOneLineError(await runBin('dataset-apply', applyArgs, { input: planDoc('n2', []) }), 'dataset-apply', 3, "node 'n2'");
  assertOneLineError(await runBin('dataset-apply', applyArgs, { input: planDoc('n1', [step({ action: 'create', runs_on: 'credentialed', volume: null })]) }), 'dataset-apply', 2, '--credentialed');
  assertOneLineError(await runBin('dataset-apply', applyArgs, { input: planDoc('n1', [step({ volume: 'vol..x' })]) }), 'dataset-apply', 3);
});

test('dataset-apply: an empty plan succeeds with an empty result', async () => {
  const r = await runBin('dataset-apply', applyArgs, { input: planDoc('n1', []) });
  assert.is(r.exitCode, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), { format: 'dvm.dataset-result/1', node: 'n1', results: [] });
});

test('the crash hook: DVM_AGENT_KILL_AT=k kills at the k-th boundary, before or after a command; the log counts them', async () => {
  const script = path.join(dir, 'boundaries.mjs');
  const runner = new URL('../../src/agent/apply/runner.js', import.meta.url).href;
  writeFileSync(script, `import { commandRunner } from '${runner}';\nconst run = commandRunner();\nawait run('true', []);\nawait run('true', ['again']);\nconsole.log('done');\n`);
  const log = path.join(dir, 'boundaries.log');
  const all = await execa(process.execPath, [script], { env: { DVM_AGENT_BOUNDARY_LOG: log }, reject: false });
  assert.is(all.stdout, 'done');
  assert.equal(readFileSync(log, 'utf8').trim().split('\n'), ['1 before true ', '2 after true ', '3 before true again', '4 after true again']);
  for (const k of [1, 2, 3, 4]) {
    const r = await execa(process.execPath, [script], { env: { DVM_AGENT_KILL_AT: String(k) }, reject: false });
    assert.is(r.signal, 'SIGKILL', `k=${k}`);
    assert.is(r.stdout, '');
  }
  const past = await execa(process.execPath, [script], { env: { DVM_AGENT_KILL_AT: '5' }, reject: false });
  assert.is(past.stdout, 'done');
});

test.run();
