// Debian's PostgreSQL as the real application moved between nodes: a cluster
// in a data directory of the test's choosing, listening only on a Unix
// socket in a private directory (no TCP), and an application definition
// (dvm.app/1) that stops and starts it with pg_ctl as the postgres user.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensurePackages } from './packages.js';

function pgBin(): string {
  ensurePackages({ postgresql: null });
  const base = '/usr/lib/postgresql';
  const version = readdirSync(base).filter((v) => existsSync(path.join(base, v, 'bin/pg_ctl'))).sort((a, b) => Number(b) - Number(a))[0];
  if (!version) throw new Error('postgresql is installed but no pg_ctl was found under /usr/lib/postgresql');
  return path.join(base, version, 'bin');
}

function pgIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export interface Pg {
  bin: string;
  dataDir: string;
  socketDir: string;
  port: number;
  /** dvm.app/1 for this cluster. */
  app: object;
  /** Runs SQL through psql on the socket; returns its output (unaligned, tuples only). */
  sql(query: string): string;
}

/** Makes (initdb) a cluster in `dataDir` whose parent must exist; sockets in `socketDir`. */
export function makeCluster(dataDir: string, socketDir: string, port: number): Pg {
  const bin = pgBin();
  const { uid, gid } = pgIds();
  mkdirSync(socketDir, { recursive: true, mode: 0o755 });
  chownSync(socketDir, uid, gid);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chownSync(dataDir, uid, gid);
  const asPg = (args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  asPg([path.join(bin, 'initdb'), '-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  writeFileSync(path.join(dataDir, 'postgresql.auto.conf'), `listen_addresses = ''\nunix_socket_directories = '${socketDir}'\nport = ${port}\nfsync = on\n`);
  chownSync(path.join(dataDir, 'postgresql.auto.conf'), uid, gid);
  return clusterAt(dataDir, socketDir, port);
}

/** The same cluster seen from another node (its data directory served from a dataset). */
export function clusterAt(dataDir: string, socketDir: string, port: number): Pg {
  const bin = pgBin();
  const log = path.join(socketDir, `pg-${port}.log`);
  const pgCtl = (verb: string, ...extra: string[]) => ['runuser', '-u', 'postgres', '--', path.join(bin, 'pg_ctl'), verb, '-D', dataDir, ...extra];
  return {
    bin,
    dataDir,
    socketDir,
    port,
    app: {
      format: 'dvm.app/1',
      // pg_ctl stop exits 1 when nothing runs: the stop command must succeed then too.
      stop: ['sh', '-c', `${pgCtl('status').join(' ')} >/dev/null 2>&1 || exit 0; exec ${pgCtl('stop', '-m', 'fast', '-w').join(' ')}`],
      start: pgCtl('start', '-w', '-t', '60', '-l', log),
      data_dir: dataDir,
      migrate: 'copy',
      timeout_seconds: 90,
    },
    sql(query: string): string {
      return execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, 'psql'), '-h', socketDir, '-p', String(port), '-U', 'postgres', '-At', '-v', 'ON_ERROR_STOP=1', '-c', query], {
        encoding: 'utf8',
      }).trim();
    },
  };
}
