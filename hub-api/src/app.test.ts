import { describe, expect, it } from 'vitest';
import { parseListingQuery } from './app';

const parse = (query: string) => parseListingQuery(new URLSearchParams(query));

describe('parseListingQuery', () => {
  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'])(
    '"%s" is an unknown parameter, once or twice, alone or beside real ones',
    (key) => {
      for (const query of [`${key}=x`, `${key}=1&${key}=2`, `tier=verified&${key}=x`, `${key}=x&q=fft`]) {
        expect(parse(query), query).toEqual({
          ok: false,
          message: `unknown parameter "${key}"; the listing takes category, tier, tag, q, sort, page, per_page`,
        });
      }
    },
  );

  it('still says which known parameter is given twice, and reads good queries', () => {
    expect(parse('page=1&page=2')).toEqual({
      ok: false,
      message: 'parameter "page" is given more than once',
    });
    expect(parse('tier=verified&q=fft')).toMatchObject({ ok: true, query: { tier: 'verified', q: 'fft' } });
  });
});
