// Real parts the tests need (etcd, Cinder, Keystone, PostgreSQL, LVM2, xfs,
// rsync...) come from Debian's packages, installed here when missing so that
// `npm test` passes on a fresh machine. `apt-get update` runs at most once per
// machine boot-ish (a marker under /var/tmp), and dpkg's lock is waited on:
// several test files may ask at once.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const UPDATED = '/var/tmp/dvm-apt-updated';
/** One apt at a time across the suite's processes (the VM's prereqs.sh takes it too). */
export const APT_LOCK = '/var/tmp/dvm-apt.lock';

/**
 * Every package a test file asks for, so that the runner can install them all
 * in the background while the first tiers run (test/runner/prefetch.ts).
 * test/unit/packages-list.test.ts checks that each ensurePackages() in test/
 * is listed here.
 */
export const SUITE_PACKAGES: Record<string, string | null> = {
  'util-linux': '/usr/bin/unshare',
  mount: '/sbin/losetup',
  fdisk: '/usr/sbin/sfdisk',
  e2fsprogs: '/sbin/mkfs.ext4',
  xfsprogs: '/usr/sbin/mkfs.xfs',
  lvm2: '/sbin/lvm',
  rsync: '/usr/bin/rsync',
  acl: '/usr/bin/setfacl',
  attr: '/usr/bin/setfattr',
  'man-db': '/usr/bin/man',
  groff: null,
  'groff-base': '/usr/bin/nroff',
  time: '/usr/bin/time',
  'etcd-server': null,
  openssl: '/usr/bin/openssl',
  postgresql: null,
  'python3-cinder': '/usr/lib/python3/dist-packages/cinder/__init__.py',
  'python3-keystonemiddleware': null,
  keystone: '/usr/bin/keystone-wsgi-public',
};

function installed(pkg: string): boolean {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }) === 'install ok installed';
  } catch {
    return false;
  }
}

/** The packages of `want` that are not (fully) installed, or whose file is missing. */
export function missingPackages(want: Record<string, string | null>): string[] {
  return Object.entries(want)
    .filter(([pkg, file]) => !installed(pkg) || (file !== null && !existsSync(file)))
    .map(([pkg]) => pkg);
}

/**
 * Makes sure each package is installed and, where given, that its file
 * exists. Throws with apt's last lines when it cannot: a test that needs a
 * real part fails loudly rather than skipping.
 */
export function ensurePackages(want: Record<string, string | null>): void {
  const missing = missingPackages(want);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing packages (${missing.join(' ')}); run the tests as root to install them`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=900', '-o', 'Acquire::Retries=3'];
  // Under APT_LOCK: another test file (or the runner's background install) may be at it.
  const run = (what: string, script: string, args: string[]) => {
    try {
      execFileSync('flock', ['-w', '1800', APT_LOCK, 'sh', '-c', script, 'sh', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
    } catch (e) {
      const err = e as { stdout?: Buffer; stderr?: Buffer };
      const tail = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
      throw new Error(`apt-get ${what} failed:\n${tail}`);
    }
  };
  process.stderr.write(`test: installing ${missing.join(' ')} (apt)\n`);
  run('update', `[ -e ${UPDATED} ] || { apt-get ${lock.join(' ')} update -q && date -u > ${UPDATED}; }`, []);
  run(`install ${missing.join(' ')}`, `exec apt-get ${lock.join(' ')} install -y -q --no-install-recommends "$@"`, missing);
}
