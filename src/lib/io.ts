import { fstatSync, readFileSync, readSync, writeSync } from 'node:fs';
import { builtin } from './builtins.js';
import { causeOf, invalidInput, usageError } from './errors.js';
import { canonicalJson } from './canonical-json.js';
import { FORMATS, validate } from './schema.js';
import { checkEnvelope, checkVg } from './vg-check.js';

// Standard input and output are read and written with plain fd calls: the
// first touch of process.stdin or process.stdout builds a stream (and, for a
// pipe, loads net and the stream machinery), a few ms of every short tool's
// start (docs/startup.md). Streams remain the fallback for a non-blocking fd.
const tty = builtin<typeof import('node:tty')>('tty');
const consumers = builtin<typeof import('node:stream/consumers')>('stream/consumers');

/** Whether fd is a terminal; the tty module (which loads net) only for a character device. */
function isTerminal(fd: number): boolean {
  try {
    if (!fstatSync(fd).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return tty().isatty(fd);
}

export async function readStdinText(): Promise<string> {
  if (isTerminal(0)) throw usageError('no input', 'stdin', 'pipe a document in (stdin is a terminal)');
  const chunks: Buffer[] = [];
  const buf = Buffer.allocUnsafe(1 << 16);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EOF' || code === 'EBADF') break; // no stdin at all reads as empty
      if (code !== 'EAGAIN') throw e;
      // A non-blocking stdin (a parent's socket): the rest through a stream.
      chunks.push(await consumers().buffer(process.stdin));
      break;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parse one JSON document and check its `format` is one of `accepted`. */
export function parseDocument<T>(text: string, accepted: readonly string[], source = 'stdin'): T {
  if (text.trim() === '') throw invalidInput('invalid input', source, 'empty, expected a JSON document');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalidInput('invalid input', source, `not JSON (${(e as Error).message})`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw invalidInput('invalid input', source, 'expected a JSON object');
  const format = (doc as { format?: unknown }).format;
  if (typeof format !== 'string') throw invalidInput('invalid input', source, "no 'format' field");
  if (!accepted.includes(format)) throw invalidInput('invalid input', source, `format '${format}' is not ${accepted.join(' or ')}`);
  const valid = validate<T>(format, doc, source);
  // What the schema cannot say (overlaps, cycles, areas past a PV's end) is
  // checked by every consumer alike, as tm checks it before a commit.
  const problems = format === FORMATS.vg ? checkVg(valid as never) : format === FORMATS.envelope ? checkEnvelope(valid as never) : [];
  if (problems.length) throw invalidInput('invalid input', source, `${format}: ${problems[0]}`);
  return valid;
}

export async function readDocument<T>(accepted: readonly string[]): Promise<T> {
  return parseDocument<T>(await readStdinText(), accepted);
}

/** The only way tools write data: one canonical document on stdout. */
export function writeDocument(doc: unknown): Promise<void> {
  return writeStdout(canonicalJson(doc));
}

let stdoutFailed: (e: NodeJS.ErrnoException) => void = (e) => {
  throw e;
};
/** What a failed write to stdout does (runTool sets it: one line, or a warning after a commit). */
export function onStdoutFailure(fn: (e: NodeJS.ErrnoException) => void): void {
  stdoutFailed = fn;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

export function writeStdout(text: string | Uint8Array): Promise<void> {
  const b = typeof text === 'string' ? Buffer.from(text) : text;
  let off = 0;
  while (off < b.length) {
    try {
      off += writeSync(1, b, off, b.length - off);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 1); // a non-blocking pipe that is full: wait for the reader
        continue;
      }
      // A closed downstream pipe is not an error worth a message (docs/contracts.md).
      if (err.code !== 'EPIPE') stdoutFailed(err);
      break;
    }
  }
  return Promise.resolve();
}

/** A document from a file named on the command line (e.g. --current FILE): unreadable is a usage error. */
export function readDocumentFile<T>(path: string, accepted: readonly string[]): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw usageError('cannot read', path, causeOf(e));
  }
  return parseDocument<T>(text, accepted, path);
}
