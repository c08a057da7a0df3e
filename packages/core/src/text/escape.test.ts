import { describe, expect, it } from 'vitest';
import { escapeControl, escapeControlKeepLines, inertJson } from './escape';

describe('escaping input for terminals and logs', () => {
  it('shows ESC, BEL, CR, C1 and bidi controls as visible escapes', () => {
    expect(escapeControl('a\x1b[31mred\x07\rb\u009bc\u202egnp.exe')).toBe(
      'a\\e[31mred\\x07\\rb\\x9bc\\u{202e}gnp.exe',
    );
  });

  it('keeps newlines and tabs only in the multi-line variant', () => {
    expect(escapeControl('a\nb\tc')).toBe('a\\nb\\tc');
    expect(escapeControlKeepLines('a\nb\tc\x1b')).toBe('a\nb\tc\\e');
  });

  it('leaves ordinary text, accents and backslashes alone', () => {
    expect(escapeControl('café/naïve\\x.py')).toBe('café/naïve\\x.py');
  });

  it('writes JSON that parses to the same value but holds no raw control characters', () => {
    const value = { name: 'x\u009b\u202e\u2028\u{e0001}y\x1b' };
    const text = inertJson(value);
    expect(JSON.parse(text)).toEqual(value);
    expect(text).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
  });
});
