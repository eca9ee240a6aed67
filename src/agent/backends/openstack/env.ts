// Credentials never reach a child process: the OS_* variables (passwords,
// application-credential secrets, tokens) are left out of every child's
// environment, and the backend takes them out of its own process once read.
const SECRET_VARS = /^(OS_|OPENSTACK_)/;

export function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!SECRET_VARS.test(k)) out[k] = v;
  return out;
}

/** Remove the OS_* variables from this process, so nothing it starts later inherits them. */
export function scrubEnvironment(env: NodeJS.ProcessEnv = process.env): string[] {
  const gone = Object.keys(env).filter((k) => SECRET_VARS.test(k));
  for (const k of gone) delete env[k];
  return gone;
}
