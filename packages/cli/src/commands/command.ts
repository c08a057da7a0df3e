/** One `hub` subcommand, loaded on demand (see ./registry). */
export interface Command {
  name: string;
  /** Full `--help` text. */
  help: string;
  run(args: string[]): Promise<number>;
}
