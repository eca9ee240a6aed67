import { builtin } from '../lib/builtins.js';

// Only tm init and pv-add make ids: node:crypto (~4 ms to load) waits for them.
const crypto = builtin<typeof import('node:crypto')>('crypto');

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A VG, PV or LV id: 32 characters of [0-9A-Za-z] (about 190 random bits). */
export function newId(): string {
  let s = '';
  for (let i = 0; i < 32; i++) s += ALPHABET[crypto().randomInt(ALPHABET.length)];
  return s;
}

export const ID_RE = /^[0-9A-Za-z]{8,64}$/;
