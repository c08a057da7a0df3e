// Text from the catalog inside generated XML (Atom feeds, SVG badges). XML 1.0 cannot hold every
// string: C0 controls other than tab, newline and carriage return, U+FFFE, U+FFFF and unpaired
// surrogates are not characters it allows, not even as &#…; references. They are dropped, and the
// five markup characters escaped, so every document stays well-formed whatever the input.

const hex = (c: number) => c.toString(16).padStart(4, '0');
const range = (from: number, to: number) => `\\u${hex(from)}-\\u${hex(to)}`;

/** Code units XML 1.0 cannot hold. No u flag: surrogates are matched one code unit at a time. */
const NOT_XML = new RegExp(
  [
    `[${range(0x0000, 0x0008)}${range(0x000b, 0x000c)}${range(0x000e, 0x001f)}${range(0xfffe, 0xffff)}]`,
    `[${range(0xd800, 0xdbff)}](?![${range(0xdc00, 0xdfff)}])`,
    `(?<![${range(0xd800, 0xdbff)}])[${range(0xdc00, 0xdfff)}]`,
  ].join('|'),
  'g',
);

const ENTITIES: ReadonlyMap<string, string> = new Map([
  ['&', '&amp;'],
  ['<', '&lt;'],
  ['>', '&gt;'],
  ['"', '&quot;'],
  ["'", '&apos;'],
  // A carriage return would be read back as a newline (and as a space in an attribute): keep it.
  ['\r', '&#13;'],
]);

/** Text safe in XML 1.0 element content and in a quoted attribute value. */
export function xmlText(text: string): string {
  return text.replace(NOT_XML, '').replace(/[&<>"'\r]/g, (c) => ENTITIES.get(c)!);
}
