// The activation pipeline as tm's --sync participant (DVM_TM_PHASE=prepare,
// commit, abort), with ext4 mounted on a linear and a raid1 LV: online grow,
// and a crash after every step of every phase's program, each followed by the
// recovery tm would run (roll forward = commit, roll back = abort). After each:
// the kernel matches the generation recovered to, nothing is suspended or
// staged, and the files on the mounted filesystems read back intact.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { activate, assertNothingSuspended, dmInfo, dmTables, dropCaches, lvmLikeEnvelope, makeLoops, participant, participantCli, planFor, runProgram, sh, sha } from '../helpers/vm-dm.js';
import type { Envelope } from '../../src/lib/vg-types.js';
import type { DmProgram } from '../../src/lib/dm-program.js';

const VG = 'vg2pc';
let devs: string[] = [];
const mnt = { lin: '/tmp/dvm-mnt-lin', mir: '/tmp/dvm-mnt-mir' };
const files = new Map<string, string>(); // path → sha256
let gen = { lin: 0, mir: 0, seqno: 1 }; // extents added to lin and mir in the generation the kernel is at
const envOf = (g: typeof gen): Envelope => lvmLikeEnvelope(VG, devs, g.seqno, g.lin, g.mir);

async function writeFiles(tag: string) {
  for (const [lv, dir] of Object.entries(mnt)) {
    const p = `${dir}/${tag}`;
    const data = randomBytes(256 * 1024);
    writeFileSync(p, data);
    files.set(p, sha(data));
  }
  await sh('sync', []);
}

async function assertIntact(what: string) {
  await assertNothingSuspended(what, VG);
  await dropCaches();
  for (const [p, h] of files) assert.is(sha(readFileSync(p)), h, `${what}: ${p} intact`);
}

/** The program the participant would run for `env` in `phase`, planned against the kernel now. */
const programFor = async (env: Envelope, phase: string) => planFor(env, {}, phase);

/** Run the first k steps of a program, as a dmexec killed after step k would have. */
async function runPrefix(p: DmProgram, k: number) {
  const r = runProgram({ ...p, steps: p.steps.slice(0, k) });
  assert.ok(r.ok, `dmexec prefix ${k}: ${JSON.stringify(r.steps.find((s) => !s.ok))}`);
}

/** The kernel is at `env`'s generation: planning it again is empty. */
async function assertAt(env: Envelope, what: string) {
  const p = await programFor(env, 'commit');
  assert.equal(p.steps, [], `${what}: converged`);
}

test.before(async () => {
  ({ devs } = await makeLoops(3, 128));
  const on = activate(envOf(gen), { all: true });
  assert.ok(on.result.ok);
  for (const [lv, dir] of Object.entries(mnt)) {
    await sh('mkfs.ext4', ['-q', '-F', `/dev/mapper/${VG}-${lv}`]);
    mkdirSync(dir, { recursive: true });
    await sh('mount', [`/dev/mapper/${VG}-${lv}`, dir]);
  }
  await writeFiles('before');
});

test.after(async () => {
  for (const dir of Object.values(mnt)) await sh('umount', [dir]).catch(() => {});
  try {
    activate(envOf(gen), { deactivate: ['lin', 'str', 'mir'] });
  } catch {
    // best effort
  }
  for (const d of devs) await sh('losetup', ['-d', d]).catch(() => {});
});

test('online grow: prepare stages and suspends, commit swaps, resize2fs grows the mounted filesystems', async () => {
  const next = { lin: gen.lin + 2, mir: gen.mir + 1, seqno: gen.seqno + 1 };
  // this once through the real command line tm runs
  assert.is(await participantCli(envOf(next), 'prepare'), 0);
  const info = new Map((await dmInfo()).map((d) => [d.name, d]));
  for (const lv of ['lin', 'mir']) {
    assert.ok(info.get(`${VG}-${lv}`)!.suspended, `${lv} suspended at the commit point`);
    assert.ok(info.get(`${VG}-${lv}`)!.inactive, `${lv} has its new table staged`);
  }
  // the grown raid images went live early (append-only growth), unsuspended
  assert.not.ok(info.get(`${VG}-mir_rimage_0`)!.suspended);
  assert.is(await participantCli(envOf(next), 'commit'), 0);
  gen = next;
  await assertAt(envOf(gen), 'after commit');
  const t = await dmTables();
  assert.is(t.get(`${VG}-lin`)!.length, 2, 'lin has its new segment');
  assert.match(t.get(`${VG}-mir`)![0], /^0 32768 raid raid1 /);
  for (const [lv, dir] of Object.entries(mnt)) {
    const before = Number((await sh('df', ['-B1', '--output=size', dir])).split('\n')[1]);
    await sh('resize2fs', [`/dev/mapper/${VG}-${lv}`]);
    const after = Number((await sh('df', ['-B1', '--output=size', dir])).split('\n')[1]);
    assert.ok(after > before, `${lv}: filesystem grew (${before} → ${after})`);
  }
  await assertIntact('after online grow');
  await writeFiles('grown');
});

test('the same participant run twice changes nothing the second time', async () => {
  assert.ok(participant(envOf(gen), 'commit'));
  await assertAt(envOf(gen), 'second run');
});

test('crash after every step of a full commit program; recover by rolling forward or back', async () => {
  const next = () => ({ lin: gen.lin + 1, mir: gen.mir + 1, seqno: gen.seqno + 1 });
  const p = await programFor(envOf(next()), 'commit');
  const n = p.steps.length;
  assert.ok(n >= 8, `a real program (${n} steps)`);
  for (let k = 1; k < n; k++) {
    const target = next();
    const prog = await programFor(envOf(target), 'commit');
    await runPrefix(prog, k);
    const forward = k % 2 === 1;
    assert.ok(participant(envOf(forward ? target : gen), forward ? 'commit' : 'abort'), `recover after step ${k}`);
    if (forward) gen = target;
    await assertAt(envOf(gen), `after step ${k}, ${forward ? 'forward' : 'back'}`);
    await assertIntact(`after step ${k}`);
  }
});

test('crash at every point of the two-phase commit: during prepare, after prepare, during commit', async () => {
  const next = () => ({ lin: gen.lin + 1, mir: gen.mir + 1, seqno: gen.seqno + 1 });
  const staged = await programFor(envOf(next()), 'prepare');
  // after precommit (nothing ran) up to a complete prepare: tm recover rolls back (abort)
  for (let k = 0; k <= staged.steps.length; k++) {
    await runPrefix(await programFor(envOf(next()), 'prepare'), k);
    assert.ok(participant(envOf(gen), 'abort'), `abort after prepare step ${k}`);
    await assertAt(envOf(gen), `prepare step ${k}, rolled back`);
    await assertIntact(`prepare step ${k}`);
  }
  // a complete prepare, the decision written, then the commit phase killed after each step: roll forward
  const commitLen = await (async () => {
    const t = next();
    assert.ok(participant(envOf(t), 'prepare'));
    const c = await programFor(envOf(t), 'commit');
    await runPrefix(c, 0);
    return c.steps.length;
  })();
  assert.ok(commitLen >= 1);
  for (let k = 0; k <= commitLen; k++) {
    const t = next();
    assert.ok(participant(envOf(t), 'prepare'));
    await runPrefix(await programFor(envOf(t), 'commit'), k);
    assert.ok(participant(envOf(t), 'commit'), `roll forward after commit step ${k}`);
    gen = t;
    await assertAt(envOf(gen), `commit step ${k}, rolled forward`);
    await assertIntact(`commit step ${k}`);
  }
});

test.run();
