// Node builtins a tool needs only on some paths, loaded on first use: every
// builtin outside Node's start-up snapshot costs its compile at each start of
// a short-lived tool (docs/startup.md). A plain require, not import(): a
// dynamic import() from the bundle, compiled with a code cache, has no loader.
import { createRequire } from 'node:module';

const requireBuiltin = createRequire(import.meta.url);

/** `node:NAME`, loaded when first called for. */
export function builtin<T>(name: string): () => T {
  let mod: T | undefined;
  return () => (mod ??= requireBuiltin(`node:${name}`) as T);
}
