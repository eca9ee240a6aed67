import { readFileSync } from 'node:fs';
import { text as streamText } from 'node:stream/consumers';
import { causeOf, invalidInput, usageError } from './errors.js';
import { canonicalJson } from './canonical-json.js';
import { FORMATS, validate } from './schema.js';
import { checkEnvelope, checkVg } from './vg-check.js';

export async function readStdinText(): Promise<string> {
  if (process.stdin.isTTY) throw usageError('no input', 'stdin', 'pipe a document in (stdin is a terminal)');
  return streamText(process.stdin);
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

export function writeStdout(text: string | Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    // A closed downstream pipe is not an error worth a message (docs/contracts.md).
    process.stdout.write(text, () => resolve());
  });
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
