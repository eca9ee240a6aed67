// Secrets never leave the credentialed agent: every message this backend
// puts into an error passes through here first, so nothing written to the
// store (a dataset's last error) or to stderr can carry a password, an
// application-credential secret or a token.

const PATTERNS: RegExp[] = [
  // header-ish and JSON-ish spellings of the things we send
  /(x-auth-token|x-subject-token|x-service-token)(["']?\s*[:=]\s*["']?)[^\s"',;}]+/gi,
  /("?(?:password|secret|token|application_credential_secret)"?\s*[:=]\s*")[^"]*(")/gi,
];

export class Redactor {
  readonly #secrets = new Set<string>();

  /** Remember a value that must never be shown (ignored when too short to be a secret). */
  add(secret: string | null | undefined): void {
    if (secret && secret.length >= 4) this.#secrets.add(secret);
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.#secrets) out = out.split(s).join('***');
    out = out.replace(PATTERNS[0]!, '$1$2***');
    out = out.replace(PATTERNS[1]!, '$1***$2');
    return out;
  }
}
