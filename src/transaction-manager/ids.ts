import { randomInt } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A VG, PV or LV id: 32 characters of [0-9A-Za-z] (about 190 random bits). */
export function newId(): string {
  let s = '';
  for (let i = 0; i < 32; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

export const ID_RE = /^[0-9A-Za-z]{8,64}$/;
