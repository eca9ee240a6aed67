// SHA-256, as every metadata record is checked and sealed with it. From the
// native addon (OpenSSL, as linked into Node itself) when it loads; else
// node:crypto. The addon is ~1 ms to load, node:crypto ~4 ms (it pulls in
// Node's stream machinery): a short-lived tool's whole read of a small VG.
import { addonWith } from './addon.js';
import { builtin } from './builtins.js';

type Digest = (b: Uint8Array) => Buffer;
const crypto = builtin<typeof import('node:crypto')>('crypto');
let digest: Digest | undefined;

function choose(): Digest {
  return addonWith<{ sha256: Digest }>('sha256')?.sha256 ?? ((b) => crypto().createHash('sha256').update(b).digest());
}

/** The SHA-256 of `data` (a string is hashed as its UTF-8 bytes). */
export function sha256(data: Uint8Array | string): Buffer {
  digest ??= choose();
  return digest(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
}
