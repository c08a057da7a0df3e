import { describe, expect, it } from 'vitest';
import { remembered } from './remembered';

describe('remembered', () => {
  it('checks each value once, gives the same verdict every time, and stays bounded', () => {
    const seen: string[] = [];
    const isShort = remembered((s: string) => {
      seen.push(s);
      return s.length < 3 ? s.length : undefined;
    }, 2);
    expect([isShort('ab'), isShort('ab'), isShort('abcd'), isShort('abcd')]).toEqual([
      2,
      2,
      undefined,
      undefined,
    ]);
    expect(seen).toEqual(['ab', 'abcd']);
    isShort('x'); // the memo was full: cleared, so 'ab' is checked again
    isShort('ab');
    expect(seen).toEqual(['ab', 'abcd', 'x', 'ab']);
  });
});
