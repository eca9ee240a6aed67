// Which test files a tier holds. The list comes from the sources
// (test/<tier>/**/*.test.ts), not from dist/: a file moved or deleted in
// test/ leaves its old build behind in dist/, and that must not run.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

export interface TestFile {
  tier: string;
  /** path inside the tier folder, e.g. `agent/plan.test.ts` */
  rel: string;
  /** the compiled file under dist/ */
  built: string;
  /** source size, the stand-in for its duration when ordering the work */
  size: number;
}

function walk(dir: string, base = dir): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, base));
    else if (e.name.endsWith('.test.ts')) out.push(path.relative(base, p));
  }
  return out;
}

export function tierFiles(tier: string): TestFile[] {
  const src = path.join(ROOT, 'test', tier);
  return walk(src)
    .map((rel) => ({
      tier,
      rel,
      built: path.join(ROOT, 'dist/test', tier, rel.replace(/\.ts$/, '.js')),
      size: statSync(path.join(src, rel)).size,
    }))
    .sort((a, b) => b.size - a.size || a.rel.localeCompare(b.rel));
}

/**
 * Finds the one test file a command-line argument names: a source path
 * (`test/unit/lib.test.ts`), its build (`dist/test/unit/lib.test.js`), a path
 * inside the tiers (`unit/lib.test.ts`) or a bare name (`lib.test.ts`, `lib`).
 */
export function findFile(arg: string, tiers: readonly string[]): TestFile | string {
  const norm = path
    .relative(ROOT, path.resolve(arg))
    .replace(/^dist\//, '')
    .replace(/^test\//, '')
    .replace(/\.js$/, '.ts');
  const all = tiers.flatMap(tierFiles);
  const exact = all.filter((f) => `${f.tier}/${f.rel}` === norm);
  if (exact.length === 1) return exact[0];
  const name = path.basename(arg).replace(/\.(ts|js)$/, '').replace(/\.test$/, '');
  const byName = all.filter((f) => path.basename(f.rel, '.test.ts') === name);
  if (byName.length === 1) return byName[0];
  if (byName.length > 1) return `'${arg}' names several test files: ${byName.map((f) => `test/${f.tier}/${f.rel}`).join(', ')}`;
  return `no test file '${arg}' in test/{${tiers.join(',')}}/`;
}
