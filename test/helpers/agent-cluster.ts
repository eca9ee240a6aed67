// A test cluster on one machine: a directory store, a loopback backend
// directory, and dataset agents each in its own mount namespace (`unshare -m
// --propagation private`), so no agent sees, or can do, another node's
// mounts. mkfs goes through a wrapper on PATH that records every invocation.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { binPath, runBin, type RunResult } from './cli.js';
import { ensurePackages } from './packages.js';

export interface Agent {
  node: string;
  child: ChildProcess;
  pid: number;
  logFile: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export class Cluster {
  readonly work: string;
  readonly store: string;
  readonly lb: string;
  readonly wrappers: string;
  readonly mkfsLog: string;
  readonly agents = new Map<string, Agent>();

  /** `store`: another store spec (etcd://...) instead of a directory store in the work directory. */
  constructor(opts: { store?: string } = {}) {
    ensurePackages({ 'e2fsprogs': '/sbin/mkfs.ext4', 'util-linux': '/usr/bin/unshare' });
    this.work = mkdtempSync(path.join(tmpdir(), 'dvm-cluster-'));
    this.store = opts.store ?? path.join(this.work, 'store');
    this.lb = path.join(this.work, 'lb');
    this.wrappers = path.join(this.work, 'wrappers');
    this.mkfsLog = path.join(this.work, 'mkfs.log');
    mkdirSync(this.lb);
    mkdirSync(this.wrappers);
    writeFileSync(this.mkfsLog, '');
    for (const fs of ['ext4', 'xfs']) {
      const real = ['/sbin', '/usr/sbin'].map((d) => `${d}/mkfs.${fs}`).find((f) => existsSync(f)) ?? `/sbin/mkfs.${fs}`;
      const w = path.join(this.wrappers, `mkfs.${fs}`);
      writeFileSync(w, `#!/bin/sh\necho "mkfs.${fs} $*" >> '${this.mkfsLog}'\nexec ${real} "$@"\n`);
      chmodSync(w, 0o755);
    }
  }

  mountRoot(node: string): string {
    const p = path.join(this.work, `mnt-${node}`);
    mkdirSync(p, { recursive: true });
    return p;
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(process.env as Record<string, string>), PATH: `${this.wrappers}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`, ...extra };
  }

  /** Starts `dataset-agent` for `node` in a mount namespace of its own. */
  start(node: string, opts: { credentialed?: boolean; env?: Record<string, string>; args?: string[]; namespace?: boolean } = {}): Agent {
    const logFile = path.join(this.work, `agent-${node}.log`);
    const args = [
      ...(opts.namespace === false ? [] : ['unshare', '-m', '--propagation', 'private']),
      process.execPath,
      binPath('dataset-agent'),
      '--store',
      this.store,
      '--node',
      node,
      '--backend',
      `loopback:${this.lb}`,
      '--mount-root',
      this.mountRoot(node),
      ...(opts.credentialed ? ['--credentialed'] : []),
      ...(opts.args ?? []),
    ];
    const child = spawn(args[0], args.slice(1), { env: this.env(opts.env), stdio: ['ignore', 'ignore', 'pipe'] });
    const log = createWriteStream(logFile, { flags: 'a' });
    child.stderr!.pipe(log);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const agent: Agent = { node, child, pid: child.pid!, logFile, exited };
    this.agents.set(node, agent);
    return agent;
  }

  async stop(node: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const a = this.agents.get(node);
    if (!a) return { code: null, signal: null };
    if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill(signal);
    const r = await a.exited;
    this.agents.delete(node);
    return r;
  }

  dataset(...args: string[]): Promise<RunResult> {
    return runBin('dataset', ['--store', this.store, ...args]);
  }

  /** Runs a command inside a node's mount namespace. */
  inNode(node: string, cmd: string, args: string[]): string {
    const a = this.agents.get(node);
    if (!a) throw new Error(`no agent for ${node}`);
    return execFileSync('nsenter', ['-t', String(a.pid), '-m', '--', cmd, ...args], { encoding: 'utf8' });
  }

  mountsOf(node: string): string {
    const a = this.agents.get(node);
    if (!a) throw new Error(`no agent for ${node}`);
    return readFileSync(`/proc/${a.pid}/mountinfo`, 'utf8');
  }

  mkfsCalls(): string[] {
    return readFileSync(this.mkfsLog, 'utf8').split('\n').filter((l) => l !== '');
  }

  log(node: string): string {
    try {
      return readFileSync(path.join(this.work, `agent-${node}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  async destroy(): Promise<void> {
    for (const n of [...this.agents.keys()]) await this.stop(n, 'SIGKILL');
    // Agents started without a namespace of their own leave their mounts in ours.
    const mine = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((p) => p && p.startsWith(this.work + '/'))
      .sort()
      .reverse();
    for (const m of mine) execFileSync('umount', [m], { stdio: 'ignore' });
    // The namespaces went with their agents, and their mounts with them; free the loop devices.
    for (const f of listFiles(this.lb)) {
      try {
        const out = execFileSync('losetup', ['-j', f], { encoding: 'utf8' });
        for (const line of out.split('\n')) {
          const dev = line.split(':')[0];
          if (dev) execFileSync('losetup', ['-d', dev], { stdio: 'ignore' });
        }
      } catch {
        /* not attached */
      }
    }
    rmSync(this.work, { recursive: true, force: true });
  }
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}
