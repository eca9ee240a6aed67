// Secrets never reach the store: errors are cut to one line and anything that
// looks like a credential (token headers, passwords, basic-auth URLs) is
// replaced before a status is written.
const PATTERNS: [RegExp, string][] = [
  [/(x-(?:auth|subject)-token\s*[:=]\s*)\S+/gi, '$1<redacted>'],
  [/(authorization\s*[:=]\s*)(?:bearer\s+|basic\s+)?\S+/gi, '$1<redacted>'],
  [/((?:password|passwd|secret|token|api[_-]?key|application_credential_secret)["']?\s*[:=]\s*["']?)[^\s"',}]+/gi, '$1<redacted>'],
  [/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, '$1<redacted>@'],
];

export function redact(text: string, maxLength = 1000): string {
  let s = text.replace(/[\r\n\u0000]+/g, ' ').trim();
  for (const [re, to] of PATTERNS) s = s.replace(re, to);
  return s.length > maxLength ? s.slice(0, maxLength - 1) + '…' : s;
}
