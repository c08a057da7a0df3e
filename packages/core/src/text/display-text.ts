// What text shown to people (the site, the API's documents, feeds, terminals) may hold: no C0 or C1
// control characters or DEL (tab and newline only where a field has several lines), and none of the
// bidirectional controls that reorder what a reader sees (Trojan Source, CVE-2021-42574).
// The one rule: the catalog's schemas use these patterns, and schemaFindings turns a refusal into
// `<prefix>.control-character` at the value's line.

const hex = (c: number) => c.toString(16).padStart(4, '0');
const range = (from: number, to: number) => `\\u${hex(from)}-\\u${hex(to)}`;
const one = (c: number) => `\\u${hex(c)}`;

/** Bidi embeddings and overrides (U+202A–U+202E), isolates (U+2066–U+2069), LRM, RLM and ALM. */
const BIDI = [range(0x202a, 0x202e), range(0x2066, 0x2069), one(0x200e), one(0x200f), one(0x061c)];
/** C0 controls but tab and newline, DEL, C1 controls. */
const CONTROLS_KEEPING_LINES = [range(0x0000, 0x0008), range(0x000b, 0x001f), range(0x007f, 0x009f)];
const CONTROLS = [range(0x0000, 0x001f), range(0x007f, 0x009f)];

// Written as \uXXXX ranges without the u flag, so the same source is a valid JSON Schema pattern.
/** A one-line text field: no control or bidi character at all. */
export const SINGLE_LINE_TEXT = new RegExp(`^[^${[...CONTROLS, ...BIDI].join('')}]*$`);
/** A multi-line text field (description, reasons): tab and newline allowed, other controls and bidi not. */
export const MULTI_LINE_TEXT = new RegExp(`^[^${[...CONTROLS_KEEPING_LINES, ...BIDI].join('')}]*$`);

const NAMES: Record<number, string> = {
  8234: 'LEFT-TO-RIGHT EMBEDDING',
  8235: 'RIGHT-TO-LEFT EMBEDDING',
  8236: 'POP DIRECTIONAL FORMATTING',
  8237: 'LEFT-TO-RIGHT OVERRIDE',
  8238: 'RIGHT-TO-LEFT OVERRIDE',
  8294: 'LEFT-TO-RIGHT ISOLATE',
  8295: 'RIGHT-TO-LEFT ISOLATE',
  8296: 'FIRST STRONG ISOLATE',
  8297: 'POP DIRECTIONAL ISOLATE',
  8206: 'LEFT-TO-RIGHT MARK',
  8207: 'RIGHT-TO-LEFT MARK',
  1564: 'ARABIC LETTER MARK',
  9: 'TAB',
  10: 'LINE FEED',
  13: 'CARRIAGE RETURN',
  27: 'ESCAPE',
  127: 'DELETE',
};

/** Whether a regex check is one of the display-text rules (how schemaFindings recognises it). */
export function isDisplayTextPattern(pattern: string | undefined): boolean {
  return pattern === String(SINGLE_LINE_TEXT) || pattern === String(MULTI_LINE_TEXT);
}

/**
 * The first character `text` may not hold, described for a person: `U+202E RIGHT-TO-LEFT OVERRIDE
 * (a bidirectional control) at character 4`. Undefined when the text is fine.
 */
export function unsafeDisplayCharacter(text: string, multiline: boolean): string | undefined {
  const allowed = multiline ? MULTI_LINE_TEXT : SINGLE_LINE_TEXT;
  if (allowed.test(text)) return undefined;
  let index = 0;
  for (const ch of text) {
    index++;
    if (!allowed.test(ch)) {
      const cp = ch.codePointAt(0)!;
      const code = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
      const name = NAMES[cp] ? ` ${NAMES[cp]}` : '';
      const kind = cp > 0x9f ? 'a bidirectional control' : 'a control character';
      return `${code}${name} (${kind}) at character ${index}`;
    }
  }
  return undefined;
}
