// The checks made on a dvm.dmexec/1 program (src/lib/dm-program.ts) before any ioctl.
import { invalidInput } from '../lib/errors.js';
import { DM_REF_PREFIX, tableProblem } from '../lib/dm-table.js';
import type { DmProgram, DmStep } from '../lib/dm-program.js';
import { inScope } from '../lib/dm-doc.js'; // DVM-ab does not own DVM-abc-…

/** What the kernel says about a name right now (null: no such device). */
export type Lookup = (name: string) => { uuid: string; major: number; minor: number } | null;

/** Every dm name a step touches or refers to. */
export function namesOf(step: DmStep): string[] {
  const names = [step.name];
  if (step.op === 'rename') names.push(step.new_name);
  if (step.op === 'load') for (const l of step.table) names.push(...refsIn(l.params));
  return names;
}

/** `dm:<name>` words in a params string. */
export function refsIn(params: string): string[] {
  return params
    .split(' ')
    .filter((w) => w.startsWith(DM_REF_PREFIX))
    .map((w) => w.slice(DM_REF_PREFIX.length));
}

/**
 * Reject, before any ioctl, what the schema cannot see: tables with gaps or
 * overlaps, nested recovery branches, creates outside the scope, and any
 * reference to an existing device whose uuid is outside the scope (a program
 * may never touch, or remove in a recovery branch, a foreign device).
 */
export function checkProgram(p: DmProgram, lookup: Lookup | null): void {
  const created = new Set<string>();
  for (const s of p.steps) collectCreates(s, created);
  const check = (s: DmStep, where: string, nested: boolean) => {
    if (nested && (s.on_error || s.undo)) throw invalidInput('invalid program', where, 'recovery steps cannot have their own on_error or undo');
    if (s.op === 'create' && !inScope(s.uuid, p.scope)) throw invalidInput('device outside scope', s.name, `uuid '${s.uuid}' does not start with '${p.scope}-'`);
    if (s.op === 'load') {
      const problem = tableProblem(s.table);
      if (problem) throw invalidInput('invalid table', s.name, problem);
      for (const ref of s.table.flatMap((l) => refsIn(l.params))) {
        if (!/^[A-Za-z0-9+_.:#@=-]{1,127}$/.test(ref)) throw invalidInput('invalid device reference', s.name, `'dm:${ref}'`);
        if (!created.has(ref) && lookup && !lookup(ref)) throw invalidInput('unresolved device reference', s.name, `'dm:${ref}' is neither an existing device nor created by this program`);
      }
    }
    if (lookup) {
      for (const n of s.op === 'rename' ? [s.name, s.new_name] : [s.name]) {
        const cur = lookup(n);
        if (cur && !inScope(cur.uuid, p.scope)) throw invalidInput('device outside scope', n, `its uuid '${cur.uuid}' does not start with '${p.scope}-'`);
      }
    }
    s.on_error?.forEach((r, j) => check(r, `${where}.on_error[${j}]`, true));
    s.undo?.forEach((r, j) => check(r, `${where}.undo[${j}]`, true));
  };
  p.steps.forEach((s, i) => check(s, `steps[${i}]`, false));
}

function collectCreates(s: DmStep, into: Set<string>): void {
  if (s.op === 'create') into.add(s.name);
  if (s.op === 'rename') into.add(s.new_name);
  s.on_error?.forEach((r) => collectCreates(r, into));
  s.undo?.forEach((r) => collectCreates(r, into));
}
