/** One `hub` subcommand. */
export interface Command {
  name: string;
  summary: string;
  /** Full `--help` text. */
  help: string;
  run(args: string[]): Promise<number>;
}
