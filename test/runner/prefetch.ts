// Installs every package the suite's tests ask for (SUITE_PACKAGES), in the
// background while the first tiers run: on a fresh machine the services
// tier's files otherwise each wait for their own apt install, one after the
// other, on the suite's critical path. Each test still calls ensurePackages
// itself, which waits on the same lock and then finds its packages there.
//   node dist/test/runner/prefetch.js     (the runner starts it; output to its log)
import { ensurePackages, missingPackages, SUITE_PACKAGES } from '../helpers/packages.js';

const t0 = Date.now();
const missing = missingPackages(SUITE_PACKAGES);
if (missing.length === 0) {
  console.log('prefetch: every package is installed');
} else {
  try {
    ensurePackages(SUITE_PACKAGES);
    console.log(`prefetch: installed ${missing.join(' ')} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  } catch (e) {
    // The tests that need them install (and fail) on their own, loudly.
    console.log(`prefetch: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
