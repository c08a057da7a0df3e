// The one usage error of the project's commands (`hub`, `coreservice`): the command line itself is
// wrong, so the command prints its message (and where to find --help) and exits with code 2.

/** A usage problem: the command line itself is wrong (exit code 2). */
export class UsageError extends Error {
  readonly exitCode = 2;
}
