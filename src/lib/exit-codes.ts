// The exit-code contract (docs/exit-codes.md). Tests enforce every row for every tool.
export const EXIT = {
  OK: 0,
  FAILED: 1, // the operation ran and failed: no space, damage found, ioctl refused
  USAGE: 2, // bad flags or arguments
  INVALID_INPUT: 3, // not JSON, schema violation, unknown format
  ENVIRONMENT: 4, // not root, no device-mapper, addon missing
  INTERNAL: 70, // a bug
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
