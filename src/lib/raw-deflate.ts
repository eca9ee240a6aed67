// Raw deflate, as large metadata records are stored: from the native addon
// (the zlib Node itself is built with, same bytes as node:zlib) when it
// loads; else node:zlib, which costs a short-lived tool ~3 ms to load with
// the stream machinery it pulls in.
import { addonWith } from './addon.js';
import { builtin } from './builtins.js';

interface Codec {
  deflateRaw: (b: Uint8Array, level: number) => Buffer;
  inflateRaw: (b: Uint8Array, max: number) => Buffer;
}
const zlib = builtin<typeof import('node:zlib')>('zlib');
let codec: Codec | undefined;

function choose(): Codec {
  return addonWith<Codec>('deflateRaw', 'inflateRaw') ?? {
    deflateRaw: (b, level) => zlib().deflateRawSync(b, { level }),
    inflateRaw: (b, max) => zlib().inflateRawSync(b, { maxOutputLength: max }),
  };
}

/** `data` deflated (raw, no header), at `level`. */
export const deflateRaw = (data: Uint8Array, level: number): Buffer => (codec ??= choose()).deflateRaw(data, level);

/** `data` inflated; throws when it is damaged or would inflate to more than `max` bytes. */
export const inflateRaw = (data: Uint8Array, max: number): Buffer => (codec ??= choose()).inflateRaw(data, max);
