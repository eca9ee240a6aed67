// A directory store's files as { relative path: contents }, lock files left
// out: a command that must change nothing is checked byte for byte.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export function storeFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!e.name.endsWith('.lock')) out[path.relative(dir, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}
