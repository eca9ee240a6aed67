// Type of dist/src/lib/validators.cjs, which the build generates from
// schemas/ (scripts/build-validators.mjs): one ajv validate function per format.
declare const validators: Record<string, ((doc: unknown) => boolean) & { errors?: unknown[] | null }>;
export = validators;
