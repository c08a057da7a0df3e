// The colours the entry point needs, without loading ./output (which loads the domain library).
const useColor = (stream: NodeJS.WriteStream) => stream.isTTY && !process.env.NO_COLOR;

/** Red on a terminal stderr (unless NO_COLOR), plain otherwise. */
export const redErr = (s: string) => (useColor(process.stderr) ? `\x1b[31m${s}\x1b[0m` : s);
