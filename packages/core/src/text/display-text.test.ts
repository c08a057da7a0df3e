import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkEntryBytes } from '../node/read-entry';
import { MULTI_LINE_TEXT, SINGLE_LINE_TEXT, unsafeDisplayCharacter } from './display-text';

const REFUSED_EVERYWHERE = [
  ...Array.from({ length: 0x20 }, (_, c) => c).filter((c) => c !== 0x09 && c !== 0x0a),
  ...Array.from({ length: 0x21 }, (_, i) => 0x7f + i),
  ...[0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200e, 0x200f, 0x061c],
].map((c) => String.fromCodePoint(c));

describe('display text', () => {
  it.each(REFUSED_EVERYWHERE.map((c) => [`U+${c.codePointAt(0)!.toString(16).padStart(4, '0')}`, c]))(
    '%s is refused in one-line and multi-line text',
    (_code, c) => {
      expect(SINGLE_LINE_TEXT.test(`a${c}b`)).toBe(false);
      expect(MULTI_LINE_TEXT.test(`a${c}b`)).toBe(false);
    },
  );

  it('tab and newline only where a field has several lines', () => {
    expect(MULTI_LINE_TEXT.test('one\n\ttwo')).toBe(true);
    expect(SINGLE_LINE_TEXT.test('one\ttwo')).toBe(false);
    expect(SINGLE_LINE_TEXT.test('one\ntwo')).toBe(false);
  });

  it('ordinary text in any script, emoji and other format characters pass', () => {
    for (const s of ['FFT — magnitude spectrum', 'Кристаллография', 'تصوير', '顕微鏡 🔬', 'a\u200db', 'é'])
      expect(SINGLE_LINE_TEXT.test(s), s).toBe(true);
  });

  it('says which character and where', () => {
    expect(unsafeDisplayCharacter('Lab \u202eevil', false)).toBe(
      'U+202E RIGHT-TO-LEFT OVERRIDE (a bidirectional control) at character 5',
    );
    expect(unsafeDisplayCharacter('🔬\u001b[31m', false)).toBe(
      'U+001B ESCAPE (a control character) at character 2',
    );
    expect(unsafeDisplayCharacter('a\nb', true)).toBeUndefined();
  });

  it('agrees with a character-by-character reading of the rule for any string (property)', () => {
    const bad = new Set(REFUSED_EVERYWHERE);
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const chars = [...s];
        expect(SINGLE_LINE_TEXT.test(s)).toBe(!chars.some((c) => bad.has(c) || c === '\t' || c === '\n'));
        expect(MULTI_LINE_TEXT.test(s)).toBe(!chars.some((c) => bad.has(c)));
      }),
      { numRuns: 2000 },
    );
  });
});

const ENTRY = `plugin_id: fft
version: 1.0.0
name: FFT
description: |
  Spectra of 1-D signals
  \tand 2-D images.
category: fft
author: Lab
license: MIT
homepage: https://magellon.org/plugins/fft
tier: community
requires_sdk: ">=2.0,<3.0"
published_at: "2025-03-10T09:00:00Z"
archive:
  url: /assets/plugins/fft-1.0.0.mpn
  sha256: ${'a'.repeat(64)}
  size_bytes: 100
archive_id: 01957f48-4e80-7226-be34-36819bfa9d81
`;

const check = (text: string) =>
  checkEntryBytes(Buffer.from(text), {
    file: 'plugins/fft/1.0.0.yaml',
    dir: 'fft',
    fileName: '1.0.0.yaml',
  }).findings.map((f) => [f.code, f.line, f.message]);

describe('catalog entries refuse control and bidi characters in text fields, at the field’s line', () => {
  it('a multi-line description with tabs is fine', () => {
    expect(check(ENTRY)).toEqual([]);
  });

  it.each([
    ['name', (t: string) => t.replace('name: FFT', 'name: "FFT\\u202E"'), 3],
    ['author (one line: no newline)', (t: string) => t.replace('author: Lab', 'author: "Lab\\nEvil"'), 8],
    // Raw controls are not even YAML (yaml.syntax); a double-quoted escape is how they get in.
    [
      'description (escape sequence)',
      (t: string) => t.replace(/\|\n.*\n.*\n/, '"\\e[2JSpectra\\n\\tand more"\n'),
      4,
    ],
    ['description (isolate)', (t: string) => t.replace('  Spectra', '  Spectra \u2067'), 4],
    ['homepage', (t: string) => t.replace('fft\ntier', 'fft\u200f\ntier'), 10],
    [
      'yanked.reason',
      (t: string) => `${t}yanked:\n  reason: "bad \\x85build"\n  at: "2025-04-01T00:00:00Z"\n`,
      20,
    ],
    ['deprecated.reason', (t: string) => `${t}deprecated:\n  reason: "use \\u061Cother"\n`, 20],
  ])('%s', (_field, change, line) => {
    expect(check(change(ENTRY))).toEqual([
      ['entry.control-character', line, expect.stringMatching(/^".+" holds U\+/)],
    ]);
  });
});
