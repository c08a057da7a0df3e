// What a child process (pip, uv, python -m venv) printed, made fit to show: its last lines, each
// bounded, split where it broke lines (CR-LF or LF). The text stays the child's: whoever prints a
// line escapes it (control characters such as ESC become visible escapes), and JSON carries it as is.

/** The last `max` non-blank lines of `text`, each cut to `width` characters. */
export function outputLines(text: string, max = 12, width = 500): string[] {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '');
  return lines
    .slice(-Math.max(0, max))
    .map((l) => (l.length > width ? `${l.slice(0, width)}… (${l.length - width} more characters)` : l));
}

const COLOUR = new RegExp(`${String.fromCharCode(0x1b)}\\[[0-9;]*m`, 'g');

/** The line without terminal colour sequences (`ESC [ … m`), for matching and quoting it. */
export const withoutColour = (line: string): string => line.replace(COLOUR, '');
