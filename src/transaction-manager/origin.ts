// What tm records about each commit, and `tm history` as a table. LVM's
// metadata archive says when, on which host and after which command a
// generation was made; that is what people read after an incident.
import { readFileSync } from 'node:fs';
import { builtin } from '../lib/builtins.js';
import type { Origin } from '../lib/vg-types.js';

const os = builtin<typeof import('node:os')>('os');

/**
 * The host name, as uname(2) gives it (what os.hostname() returns): Linux
 * shows it in /proc, which saves every commit loading node:os (~2 ms); the
 * call is the fallback where /proc is not mounted.
 */
export function hostName(): string {
  try {
    const h = readFileSync('/proc/sys/kernel/hostname', 'utf8').trim();
    if (h !== '') return h;
  } catch {
    // no /proc here
  }
  return os().hostname();
}

/** The origin of a commit made now by this process (`argv`: tm's own arguments, the mutator's included). */
export function originNow(argv: string[], now = new Date(), host = hostName()): Origin {
  return { time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'), host: host.slice(0, 255), command: ['tm', ...argv].slice(0, 256).map((a) => a.slice(0, 4096)) };
}

/**
 * The time a commit records: now, or SOURCE_DATE_EPOCH (seconds) when set, the
 * reproducible-builds convention, so that two runs can write identical images.
 */
export function commitTime(env: NodeJS.ProcessEnv = process.env): Date {
  const e = env.SOURCE_DATE_EPOCH;
  return e !== undefined && /^\d{1,12}$/.test(e) ? new Date(Number(e) * 1000) : new Date();
}

export interface HistoryRow {
  seqno: number;
  time: string | null;
  host: string | null;
  description: string | null;
  size: number;
}

/** One line per generation, newest first, as `tm history` prints it; unknown (older records) is '-'. */
export function historyTable(rows: HistoryRow[]): string {
  const flat = (s: string | null) => (s === null ? '-' : s.replace(/[\x00-\x1f\x7f]/g, ' '));
  const cells = rows.map((r) => [String(r.seqno), flat(r.time), flat(r.host), flat(r.description), String(r.size)]);
  const head = ['Seqno', 'Time (UTC)', 'Host', 'Description', 'Size'];
  const right = [true, false, false, false, true];
  const width = head.map((h, i) => cells.reduce((w, c) => Math.max(w, c[i].length), h.length));
  const line = (c: string[]) =>
    c
      .map((x, i) => (right[i] ? x.padStart(width[i]) : i === c.length - 1 ? x : x.padEnd(width[i])))
      .join('  ')
      .trimEnd();
  return [head, ...cells].map(line).join('\n') + '\n';
}
