// The operator's arguments, checked before anything is read or written:
// every value here may become a path, a device name or a backend call.
import { usageError } from '../../lib/errors.js';
import { parseSize, SECTOR } from '../../lib/units.js';

const NAME_RE = /^(?!\.{1,2}$)[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/;
const NODE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** The schemas' volume id: no '/', no leading '.', so never a path outside the backend's folder. */
export const VOLUME_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const PATH_COMPONENT_RE = /^[A-Za-z0-9+_.@:=,-]{1,255}$/;
const META_KEY_RE = /^[A-Za-z0-9_.:-]{1,255}$/;

export function datasetName(text: string): string {
  if (!NAME_RE.test(text)) throw usageError('invalid dataset name', text, "expected 1-127 of [A-Za-z0-9+_.-], not starting with '-', not '.' or '..'");
  return text;
}

/** An application's name (a file APPS_DIR/NAME.json on each node): the dataset-name rule. */
export function appName(text: string): string {
  if (!NAME_RE.test(text)) throw usageError('invalid application name', text, "expected 1-127 of [A-Za-z0-9+_.-], not starting with '-', not '.' or '..'");
  return text;
}

export function nodeName(text: string): string {
  if (!NODE_RE.test(text)) throw usageError('invalid node name', text, 'expected 1-63 of [A-Za-z0-9_.-], starting with a letter or digit');
  return text;
}

export function volumeId(text: string): string {
  if (!VOLUME_ID_RE.test(text)) throw usageError('invalid volume id', text, "expected 1-128 of [A-Za-z0-9_.:-], starting with a letter or digit (no '/')");
  return text;
}

/** An absolute mount point: no '.' or '..' component, no '//', no trailing '/'. */
export function mountPath(text: string): string {
  if (!text.startsWith('/') || text === '/') throw usageError('invalid mount point', text, "expected an absolute path below '/'");
  const parts = text.slice(1).split('/');
  for (const p of parts) {
    if (p === '' || p === '.' || p === '..') throw usageError('invalid mount point', text, "no empty, '.' or '..' components");
    if (!PATH_COMPONENT_RE.test(p)) throw usageError('invalid mount point', text, `component '${p}' has characters outside [A-Za-z0-9+_.@:=,-]`);
  }
  if (parts.length > 64 || text.length > 4096) throw usageError('invalid mount point', text, 'too long');
  return text;
}

/** `10G`, `512M`, `1.5g`: binary units as everywhere in dvm, a bare number in MiB. Bytes. */
export function sizeBytes(text: string, opts: { allowPlus?: boolean } = {}): { bytes: number; relative: boolean } {
  const spec = parseSize(text, 'm', { allowSign: true });
  if (spec.kind !== 'sectors') throw usageError('invalid size', text, 'expected a size such as 10G or 512M');
  if (spec.sign === '-') throw usageError('invalid size', text, "a dataset shrinks only by 'dataset shrink NAME SIZE'");
  if (spec.sign === '+' && !opts.allowPlus) throw usageError('invalid size', text, 'expected an absolute size here');
  if (spec.value <= 0) throw usageError('invalid size', text, 'must be greater than zero');
  const bytes = spec.value * SECTOR;
  if (!Number.isSafeInteger(bytes)) throw usageError('invalid size', text, 'too large');
  return { bytes, relative: spec.sign === '+' };
}

/** `--meta KEY=VALUE`; keys starting with `dvm` are the agent's own (the dataset id lives there). */
export function metaPairs(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw usageError('invalid --meta', item, 'expected KEY=VALUE');
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (!META_KEY_RE.test(key)) throw usageError('invalid --meta', item, 'key: 1-255 of [A-Za-z0-9_.:-]');
    if (/^dvm([._:-]|$)/i.test(key)) throw usageError('invalid --meta', item, "keys starting with 'dvm' are reserved for the agent");
    if (value.length > 255 || /[\u0000-\u001f]/.test(value)) throw usageError('invalid --meta', item, 'value: at most 255 printable characters');
    if (key in out) throw usageError('invalid --meta', item, 'key given twice');
    out[key] = value;
  }
  if (Object.keys(out).length > 32) throw usageError('invalid --meta', undefined, 'at most 32 keys');
  return out;
}

export function timeoutSeconds(value: unknown): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 86400 * 7) throw usageError('invalid --timeout', String(value), 'expected seconds, 0 to 604800');
  return n;
}

/** `--reason TEXT` of `node fence`: one printable line, kept in the store and shown by `status`. */
export function fenceReason(value: unknown): string {
  const text = String(value);
  if (text.length === 0 || text.length > 1024 || /[\u0000-\u001f\u007f]/.test(text)) throw usageError('invalid --reason', text.slice(0, 80), 'expected one line of 1-1024 printable characters');
  return text;
}
