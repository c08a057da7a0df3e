import { requireTool, xmlProblems } from '@magellon/hub-core/test-support';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { xmlText } from './xml';

const hasPython = requireTool('python3');

describe('xmlText', () => {
  it('escapes markup and keeps ordinary text, emoji and tabs and newlines as they are', () => {
    expect(xmlText(`<a href="x">Tom & 'Jerry'</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;',
    );
    expect(xmlText('FFT — 顕微鏡 🔬\tone\ntwo')).toBe('FFT — 顕微鏡 🔬\tone\ntwo');
    expect(xmlText('a\rb')).toBe('a&#13;b');
  });

  it('drops what XML 1.0 cannot hold: C0 controls, U+FFFE, U+FFFF, lone surrogates', () => {
    expect(xmlText('a\u0000b\u0008c\u000bd\u001be\ufffef\uffffg')).toBe('abcdefg');
    expect(xmlText('x\ud800y\udc00z')).toBe('xyz');
    expect(xmlText('\udc00\ud83d\udd2c\ud800')).toBe('🔬');
  });

  it.skipIf(!hasPython)(
    'leaves element text and attribute values well-formed for any string (property)',
    () => {
      const strings = fc.sample(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 40 }),
          fc.string({ unit: 'binary-ascii', maxLength: 40 }),
        ),
        { numRuns: 3000, seed: 1 },
      );
      const docs = strings.map(
        (s) => `<?xml version="1.0" encoding="utf-8"?>\n<r a="${xmlText(s)}">${xmlText(s)}</r>`,
      );
      const problems = xmlProblems(docs);
      expect(problems.flatMap((p, i) => (p ? [[JSON.stringify(strings[i]), p]] : []))).toEqual([]);
    },
  );
});
