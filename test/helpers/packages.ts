// Real parts the tests need (etcd, Cinder, Keystone, PostgreSQL, LVM2, xfs,
// rsync...) come from Debian's packages, installed here when missing so that
// `npm test` passes on a fresh machine. `apt-get update` runs at most once per
// machine boot-ish (a marker under /var/tmp), and dpkg's lock is waited on:
// several test files may ask at once.
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';

const UPDATED = '/var/tmp/dvm-apt-updated';

function installed(pkg: string): boolean {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }) === 'install ok installed';
  } catch {
    return false;
  }
}

/**
 * Makes sure each package is installed and, where given, that its file
 * exists. Throws with apt's last lines when it cannot: a test that needs a
 * real part fails loudly rather than skipping.
 */
export function ensurePackages(want: Record<string, string | null>): void {
  const missing = Object.entries(want)
    .filter(([pkg, file]) => !installed(pkg) || (file !== null && !existsSync(file)))
    .map(([pkg]) => pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing packages (${missing.join(' ')}); run the tests as root to install them`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=900', '-o', 'Acquire::Retries=3'];
  const run = (args: string[]) => {
    try {
      execFileSync('apt-get', [...lock, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
    } catch (e) {
      const err = e as { stdout?: Buffer; stderr?: Buffer };
      const tail = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
      throw new Error(`apt-get ${args.join(' ')} failed:\n${tail}`);
    }
  };
  process.stderr.write(`test: installing ${missing.join(' ')} (apt)\n`);
  if (!existsSync(UPDATED)) {
    run(['update', '-q']);
    writeFileSync(UPDATED, new Date().toISOString() + '\n');
  }
  run(['install', '-y', '-q', '--no-install-recommends', ...missing]);
}
