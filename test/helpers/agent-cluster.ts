// A test cluster on one machine: a directory store, a loopback backend
// directory, and dataset agents each in its own mount namespace (`unshare -m
// --propagation private`), so no agent sees, or can do, another node's
// mounts. mkfs goes through a wrapper on PATH that records every invocation.
//
// With `nodeNamespaces` each node's namespace is held by a process of its own
// (a sleep), so it outlives its agent as a real node's mounts do: an agent
// killed and restarted finds its mounts (and the applications it started)
// where it left them. destroy() kills every process left in the cluster's
// namespaces (applications the agents started) before it unmounts, frees the
// loop devices and removes the work directory.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
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
  readonly nodeNamespaces: boolean;
  /** Node → the process holding its mount namespace (nodeNamespaces only). */
  private readonly holders = new Map<string, ChildProcess>();
  /** Mount namespaces (ns/mnt links) this cluster's agents ran in, other than ours. */
  private readonly namespaces = new Set<string>();

  /**
   * `store`: another store spec (etcd://...) instead of a directory store in the work directory.
   * `nodeNamespaces`: one mount namespace per node that outlives its agents.
   */
  constructor(opts: { store?: string; nodeNamespaces?: boolean } = {}) {
    this.nodeNamespaces = opts.nodeNamespaces ?? false;
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

  /** The pid of the process holding `node`'s namespace, made on first use (nodeNamespaces only). */
  holder(node: string): number {
    let h = this.holders.get(node);
    if (!h) {
      h = spawn('unshare', ['-m', '--propagation', 'private', 'sleep', 'infinity'], { stdio: 'ignore' });
      this.holders.set(node, h);
      // unshare execs sleep once the namespace is made: wait for the link to differ from ours.
      const ours = readlinkSync('/proc/self/ns/mnt');
      for (let i = 0; ; i++) {
        let ns = ours;
        try {
          ns = readlinkSync(`/proc/${h.pid}/ns/mnt`);
        } catch {
          /* not yet */
        }
        if (ns !== ours) {
          this.namespaces.add(ns);
          break;
        }
        if (i > 500) throw new Error(`the namespace holder for ${node} did not unshare`);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      }
    }
    return h.pid!;
  }

  /** Starts `dataset-agent` for `node` in a mount namespace of its own. */
  start(node: string, opts: { credentialed?: boolean; env?: Record<string, string>; args?: string[]; namespace?: boolean } = {}): Agent {
    const logFile = path.join(this.work, `agent-${node}.log`);
    const ns =
      opts.namespace === false ? [] : this.nodeNamespaces ? ['nsenter', '-t', String(this.holder(node)), '-m', '--'] : ['unshare', '-m', '--propagation', 'private'];
    const args = [
      ...ns,
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
    if (ns[0] === 'unshare') void this.watchNamespace(child);
    this.agents.set(node, agent);
    return agent;
  }

  async stop(node: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const a = this.agents.get(node);
    if (!a) return { code: null, signal: null };
    this.noteNamespace(a.pid);
    if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill(signal);
    const r = await a.exited;
    this.agents.delete(node);
    return r;
  }

  dataset(...args: string[]): Promise<RunResult> {
    return runBin('dataset', ['--store', this.store, ...args]);
  }

  /** A process in `node`'s mount namespace: its holder, else its running agent. */
  private pidOf(node: string): number {
    if (this.holders.has(node)) return this.holders.get(node)!.pid!;
    const a = this.agents.get(node);
    if (!a) throw new Error(`no agent for ${node}`);
    return a.pid;
  }

  /** Runs a command inside a node's mount namespace. */
  inNode(node: string, cmd: string, args: string[]): string {
    return execFileSync('nsenter', ['-t', String(this.pidOf(node)), '-m', '--', cmd, ...args], { encoding: 'utf8' });
  }

  mountsOf(node: string): string {
    return readFileSync(`/proc/${this.pidOf(node)}/mountinfo`, 'utf8');
  }

  /** Notes an unshared agent's namespace once it is made, so destroy() finds what it left running there. */
  private async watchNamespace(child: ChildProcess): Promise<void> {
    const ours = readlinkSync('/proc/self/ns/mnt');
    for (let i = 0; i < 200 && child.exitCode === null && child.signalCode === null; i++) {
      try {
        const ns = readlinkSync(`/proc/${child.pid}/ns/mnt`);
        if (ns !== ours) return void this.namespaces.add(ns);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private noteNamespace(pid: number): void {
    try {
      const ns = readlinkSync(`/proc/${pid}/ns/mnt`);
      if (ns !== readlinkSync('/proc/self/ns/mnt')) this.namespaces.add(ns);
    } catch {
      /* gone already */
    }
  }

  /** Every agent's log, the last `tail` characters of each: for a failing test's message. */
  logs(tail = 4000): string {
    const nodes = readdirSync(this.work).filter((f) => /^agent-.*\.log$/.test(f)).map((f) => f.slice('agent-'.length, -'.log'.length)).sort();
    return nodes.map((n) => `--- agent ${n} (last ${tail} characters)\n${this.log(n).slice(-tail)}`).join('\n');
  }

  /** Kills every process left in this cluster's mount namespaces (applications its agents started) and waits for them. */
  private killNamespaces(): void {
    if (this.namespaces.size === 0) return;
    const left = () => {
      const pids: number[] = [];
      for (const p of readdirSync('/proc')) {
        if (!/^[0-9]+$/.test(p) || Number(p) === process.pid) continue;
        try {
          if (this.namespaces.has(readlinkSync(`/proc/${p}/ns/mnt`))) pids.push(Number(p));
        } catch {
          /* exited */
        }
      }
      return pids;
    };
    for (let i = 0; i < 100; i++) {
      const pids = left();
      if (pids.length === 0) return;
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* exited */
        }
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
    throw new Error(`processes still running in the cluster's namespaces: ${left().join(' ')}`);
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
    this.killNamespaces();
    for (const h of this.holders.values()) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
    this.holders.clear();
    // Agents started without a namespace of their own leave their mounts in ours.
    const mine = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((p) => p && p.startsWith(this.work + '/'))
      .sort()
      .reverse();
    for (const m of mine) {
      try {
        execFileSync('umount', [m], { stdio: 'ignore' });
      } catch {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      }
    }
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
    // Retried: a process that was still writing (killed just above) may have added an entry as the walk passed.
    rmSync(this.work, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
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
