// Helpers for activation tests on the real kernel (root, device-mapper, loop
// devices; in the test VM). Device paths, tables and data checks.
import { execa } from 'execa';
import * as assert from 'uvu/assert';
import { mkdtempSync, statSync, openSync, readSync, writeSync, fsyncSync, closeSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { runBin, binPath } from './cli.js';
import { splitDev, type DmDoc } from '../../src/lib/dm-doc.js';
import type { DmProgram } from '../../src/lib/dm-program.js';
import type { Envelope, Lv } from '../../src/lib/vg-types.js';
import { desiredState } from '../../src/vol-activate/activate.js';
import { planProgram } from '../../src/dmactivate/program.js';
import { stageFromPhase } from '../../src/dmactivate/phase.js';
import { loadNative } from '../../src/dmexec/native.js';
import { DmControl } from '../../src/dmexec/control.js';
import { queryState } from '../../src/dmexec/query.js';
import { execute, type ExecResult } from '../../src/dmexec/execute.js';

// Node starts slowly in the TCG VM (10-20 s per process on a loaded host), so
// the pipeline runs in this process: the same cores and the same dmexec
// executor the CLIs call. The CLIs themselves are run where a test says so.
let ctl: DmControl | null = null;
const control = () => (ctl ??= DmControl.open(loadNative()));
export const query = (scope: string): DmDoc => queryState(control(), scope) as unknown as DmDoc;

export interface Selection {
  all?: boolean;
  lvs?: string[];
  deactivate?: string[];
  partial?: boolean;
}

/** vol-activate | dmactivate, in process: the program the pipeline would run now. */
export function planFor(env: Envelope, sel: Selection, phase?: string): DmProgram {
  const want = desiredState(env, { all: sel.all ?? false, lvs: sel.lvs ?? [], deactivate: sel.deactivate ?? [], partial: sel.partial ?? false }, { devOf: (p) => splitDev(statSync(p).rdev), current: query });
  return planProgram(query(want.scope), want, { stage: stageFromPhase(phase, false) });
}

// No memory locking here: dmexec's own tests cover it, and locking ranges of
// this long-lived process made V8 abort (SetPermissions) after a few programs.
export const runProgram = (p: DmProgram): ExecResult => execute(p as never, control(), { lock: 'none' });

export async function sh(cmd: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<string> {
  // dmsetup without udev (the VM has none) must not wait for udev cookies
  if (cmd === 'dmsetup') args = ['--noudevsync', '--noudevrules', ...args];
  const r = await execa(cmd, args, { input: opts.input ?? '', env: opts.env, reject: false });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.exitCode}: ${String(r.stderr).trim()}`);
  return String(r.stdout);
}

/** Files of `mb` MiB in a fresh directory, attached as loop devices. */
export async function makeLoops(n: number, mb = 64): Promise<{ dir: string; devs: string[] }> {
  const dir = mkdtempSync('/tmp/dvm-act-');
  const devs: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = path.join(dir, `pv${i}.img`);
    await sh('truncate', ['-s', `${mb}M`, f]);
    devs.push((await sh('losetup', ['-f', '--show', f])).trim());
  }
  return { dir, devs };
}

export const devNum = (p: string) => {
  const { major, minor } = splitDev(statSync(p).rdev);
  return `${major}:${minor}`;
};

/**
 * A dmsetup command over every device: it lists the devices, then asks each,
 * so a device another test removes in between fails the whole command
 * ("Device does not exist"). The integration files run two at a time: retry.
 */
async function dmsetupAll(args: string[]): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await sh('dmsetup', args);
    } catch (e) {
      if (i >= 10 || !/Device does not exist/.test((e as Error).message)) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** `dmsetup table` as name → lines. */
export async function dmTables(): Promise<Map<string, string[]>> {
  const out = await dmsetupAll(['table']);
  const m = new Map<string, string[]>();
  for (const line of out.split('\n')) {
    const x = /^(\S+): (.*)$/.exec(line);
    if (!x) continue;
    m.set(x[1], [...(m.get(x[1]) ?? []), x[2]]);
  }
  return m;
}

/** name → "maj:min" and state of every dm device. */
export async function dmInfo(): Promise<{ name: string; dev: string; suspended: boolean; inactive: boolean; uuid: string }[]> {
  const out = await dmsetupAll(['info', '-c', '--noheadings', '--separator', '|', '-o', 'name,major,minor,attr,uuid']);
  return out
    .split('\n')
    .filter((l) => l.trim() && !l.includes('No devices found'))
    .map((l) => {
      const [name, maj, min, attr, uuid] = l.split('|').map((s) => s.trim());
      // attr: L(live) I(inactive) s(suspended) r/w ...
      return { name, dev: `${maj}:${min}`, suspended: attr[2] === 's', inactive: attr[1] === 'I', uuid: uuid ?? '' };
    });
}

/** Tables with dm device numbers replaced by device names, for comparing stacks made at different times. */
export async function namedTables(prefix: string): Promise<Map<string, string[]>> {
  const info = await dmInfo();
  const byDev = new Map(info.map((d) => [d.dev, d.name]));
  const out = new Map<string, string[]>();
  for (const [name, lines] of await dmTables()) {
    if (!name.startsWith(prefix)) continue;
    out.set(name.slice(prefix.length), lines.map((l) => l.split(' ').map((w) => (byDev.has(w) ? `<${byDev.get(w)!.slice(prefix.length)}>` : w)).join(' ')));
  }
  return out;
}

/** None of this VG's devices is suspended or has a staged table (other tests run alongside). */
export async function assertNothingSuspended(what: string, vg: string) {
  for (const d of await dmInfo()) {
    if (!d.name.startsWith(`${vg}-`)) continue;
    assert.not.ok(d.suspended, `${what}: ${d.name} is suspended`);
    assert.not.ok(d.inactive, `${what}: ${d.name} has an inactive table`);
  }
}

/** The activation pipeline, in process. */
export function activate(env: Envelope, sel: Selection, phase?: string): { plan: DmProgram; result: ExecResult } {
  const plan = planFor(env, sel, phase);
  return { plan, result: runProgram(plan) };
}

/** The participant tm runs (`vol-activate --active | dmactivate | dmexec` with DVM_TM_PHASE), in process. */
export function participant(env: Envelope, phase: 'prepare' | 'commit' | 'abort'): boolean {
  return activate(env, {}, phase).result.ok;
}

/** The tm --sync participant command line, with our tools by full path. */
export const SYNC_CMD = `${process.execPath} ${binPath('vol-activate')} --active | ${process.execPath} ${binPath('dmactivate')} | ${process.execPath} ${binPath('dmexec')} >/dev/null`;

/** The tm CLI, as a process (so that a test can kill it): exit code, stdout, stderr. */
export async function tmCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await execa(process.execPath, [binPath('tm'), ...args], { reject: false });
  return { code: r.exitCode ?? 70, out: String(r.stdout), err: String(r.stderr) };
}

/**
 * tm killed at each side of its commit point: a --sync command that runs the
 * participant (or not) and then kills tm, its parent. After the precommit and
 * after prepare (devices suspended, tables staged) recover rolls back; after
 * the commit it rolls forward.
 */
export const TM_CRASHES: readonly [string, string][] = [
  ['after precommit', `if [ "$DVM_TM_PHASE" = prepare ]; then kill -9 $PPID; exit 1; fi; ${SYNC_CMD}`],
  ['after prepare', `${SYNC_CMD}; if [ "$DVM_TM_PHASE" = prepare ]; then kill -9 $PPID; fi`],
  ['after commit', `if [ "$DVM_TM_PHASE" = commit ]; then kill -9 $PPID; exit 1; fi; ${SYNC_CMD}`],
];

/** The real thing: `sh -c CMD` with the envelope on stdin and DVM_TM_PHASE set, as tm runs it. */
export async function participantCli(env: Envelope, phase: 'prepare' | 'commit' | 'abort'): Promise<number> {
  const r = await execa('sh', ['-c', SYNC_CMD], { input: JSON.stringify(env), env: { DVM_TM_PHASE: phase }, reject: false });
  return r.exitCode ?? 70;
}

export { runBin };

/** Write random bytes at a byte offset of a block device (fsynced); returns them. */
export function writeAt(dev: string, offset: number, len: number): Buffer {
  const data = randomBytes(len);
  const fd = openSync(dev, 'r+');
  try {
    writeSync(fd, data, 0, len, offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return data;
}

export function readAt(dev: string, offset: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  const fd = openSync(dev, 'r');
  try {
    readSync(fd, b, 0, len, offset);
  } finally {
    closeSync(fd);
  }
  return b;
}

export const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export async function dropCaches() {
  await sh('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']);
}

// The VG id is the dm uuid's scope (DVM-<vg id>-<lv id>): one per test
// process, so that two files run side by side in the VM (two shards) never
// make, query or remove each other's devices.
export const ids = {
  vg: `VGint${process.pid}`.padEnd(32, '0'),
  pv: (i: number) => `PVintegration000000000000000000${i}`,
  lv: (tag: string) => `LV${tag.padEnd(30, '0')}`,
};

const linearLv = (tag: string, name: string, segs: [number, number, number][], flags: Lv['flags'] = []): Lv => {
  let at = 0;
  return {
    id: ids.lv(tag),
    name,
    flags,
    segments: segs.map(([pv, pe, n]) => {
      const s = { start_extent: at, extent_count: n, type: 'linear' as const, areas: [{ pv: ids.pv(pv), pe }] };
      at += n;
      return s;
    }),
  };
};

/**
 * The layout LVM makes on three 64 MiB PVs with
 *   lvcreate -n lin -L 8M vg PV0; lvcreate -n str -i 2 -I 64k -L 16M vg PV0 PV1;
 *   lvcreate --type raid1 -m 1 -n mir -L 12M vg PV1 PV2
 * (4 MiB extents, data at 1 MiB), as a dvm envelope over `devs`.
 * `linExtra` / `mirExtra` extend lin and mir by that many extents (lin on PV0
 * from pe 4, so the two segments stay separate lines; mir's images in place).
 */
export function lvmLikeEnvelope(vgName: string, devs: string[], seqno = 1, linExtra = 0, mirExtra = 0): Envelope {
  const mirLen = 3 + mirExtra;
  return {
    format: 'dvm.envelope/1',
    devices: Object.fromEntries(devs.map((d, i) => [ids.pv(i), d])),
    missing: [],
    vg: {
      format: 'dvm.vg/1',
      name: vgName,
      id: ids.vg,
      seqno,
      extent_size: 8192,
      pvs: devs.map((_, i) => ({ id: ids.pv(i), size: 131072, pe_start: 2048, pe_count: 15, flags: ['allocatable' as const] })),
      lvs: [
        linearLv('lin', 'lin', linExtra ? [[0, 0, 2], [0, 4, linExtra]] : [[0, 0, 2]]),
        {
          id: ids.lv('str'),
          name: 'str',
          flags: [],
          segments: [{ start_extent: 0, extent_count: 4, type: 'striped', stripe_size: 128, areas: [{ pv: ids.pv(0), pe: 2 }, { pv: ids.pv(1), pe: 0 }] }],
        },
        {
          id: ids.lv('mir'),
          name: 'mir',
          flags: [],
          segments: [{ start_extent: 0, extent_count: mirLen, type: 'raid1', region_size: 4096, areas: [{ lv: ids.lv('mimg0'), le: 0 }, { lv: ids.lv('mimg1'), le: 0 }], meta_areas: [{ lv: ids.lv('mmeta0'), le: 0 }, { lv: ids.lv('mmeta1'), le: 0 }] }],
        },
        linearLv('mmeta0', 'mir_rmeta_0', [[1, 2, 1]], ['hidden']),
        linearLv('mimg0', 'mir_rimage_0', [[1, 3, mirLen]], ['hidden']),
        linearLv('mmeta1', 'mir_rmeta_1', [[2, 0, 1]], ['hidden']),
        linearLv('mimg1', 'mir_rimage_1', [[2, 1, mirLen]], ['hidden']),
      ],
    },
  };
}
