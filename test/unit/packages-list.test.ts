// The runner installs SUITE_PACKAGES in the background on a fresh machine
// (test/runner/prefetch.ts); a package a test asks for but the list lacks
// would be installed on the critical path again. Every ensurePackages({...})
// in test/ and bench/ names only listed packages.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { SUITE_PACKAGES } from '../helpers/packages.js';
import { ROOT } from '../runner/files.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = path.join(dir, e);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('every package a test or benchmark installs is in SUITE_PACKAGES', () => {
  const asked = new Map<string, string>();
  for (const f of [...sources(path.join(ROOT, 'test')), ...sources(path.join(ROOT, 'bench'))]) {
    for (const m of readFileSync(f, 'utf8').matchAll(/ensurePackages\(\{([^}]*)\}/g)) {
      for (const k of m[1].matchAll(/(?:^|,)\s*(?:'([^']+)'|([A-Za-z0-9_]+))\s*:/g)) asked.set(k[1] ?? k[2], path.relative(ROOT, f));
    }
  }
  assert.ok(asked.size >= 10, `found the ensurePackages calls (${asked.size})`);
  const missing = [...asked].filter(([pkg]) => !(pkg in SUITE_PACKAGES)).map(([pkg, f]) => `${pkg} (${f})`);
  assert.equal(missing, [], 'not in SUITE_PACKAGES');
});

test.run();
