/**
 * Characters that must never reach a terminal or a log raw: C0 and C1 controls (ESC starts
 * terminal escape sequences, CR rewrites the line, BEL rings), DEL, bidirectional controls and
 * other invisible format characters (which reorder or hide text), and line/paragraph separators.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
/** The same, but keeping newline and tab, for multi-line text the hub itself composes. */
const UNSAFE_KEEP_LINES = /(?![\n\t])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\x1b': '\\e' };

function show(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const cp = ch.codePointAt(0)!;
  return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
}

/**
 * Escapes a string that came from input (a key, a folder name, a manifest value, a zip entry name)
 * so it prints as one inert line: every control, format and bidi character becomes a visible escape
 * such as `\e`, `\x07` or `\u{202e}`. Backslashes are left alone, so ordinary text is unchanged.
 */
export function escapeControl(text: string): string {
  return text.replace(UNSAFE, show);
}

/** Like {@link escapeControl} but keeps newlines and tabs: for whole messages the hub composed itself. */
export function escapeControlKeepLines(text: string): string {
  return text.replace(UNSAFE_KEEP_LINES, show);
}

// JSON.stringify already escapes C0 controls inside strings; raw C0 left in its output is layout.
const UNSAFE_IN_JSON = /[\x7f-\x9f\p{Cf}\p{Zl}\p{Zp}]/gu;

/** JSON text with every unsafe character written as a \u escape, so the JSON means the same but prints inert. */
export function inertJson(value: unknown, indent?: number): string {
  const unit = (code: number) => `\\u${code.toString(16).padStart(4, '0')}`;
  return JSON.stringify(value, null, indent).replace(UNSAFE_IN_JSON, (ch) =>
    Array.from({ length: ch.length }, (_, i) => unit(ch.charCodeAt(i))).join(''),
  );
}
