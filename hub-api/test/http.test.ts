import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveRoute } from '../src/app';
import { chooseEncoding, noneMatch, parseRange } from '../src/http';

describe('chooseEncoding', () => {
  it('takes the highest q-value, ties to the coding named first, identity when none is acceptable', () => {
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'identity'],
      ['', 'identity'],
      ['gzip', 'gzip'],
      ['br', 'br'],
      ['gzip, deflate, br', 'gzip'],
      ['br, gzip', 'br'],
      ['gzip;q=0.5, br', 'br'],
      ['br;q=0, gzip', 'gzip'],
      ['br;q=0, gzip;q=0', 'identity'],
      ['*', 'gzip'], // names neither: the more widely supported one
      ['gzip;q=0.1, *;q=0.9', 'br'],
      ['identity', 'identity'],
      ['deflate, zstd', 'identity'],
      ['x-gzip', 'gzip'],
    ];
    for (const [header, want] of cases) expect(chooseEncoding(header), String(header)).toBe(want);
  });

  it('never throws and always answers one of the three, whatever the header', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 600 }), (h) =>
        ['identity', 'gzip', 'br'].includes(chooseEncoding(h)),
      ),
    );
  });
});

describe('noneMatch', () => {
  it('matches strong and weak forms, lists and *, and nothing else', () => {
    expect(noneMatch('"a"', ['"a"'])).toBe(true);
    expect(noneMatch('W/"a"', ['"a"'])).toBe(true);
    expect(noneMatch('"x", "a"', ['"a"'])).toBe(true);
    expect(noneMatch('*', ['"a"'])).toBe(true);
    expect(noneMatch('"b"', ['"a"'])).toBe(false);
    expect(noneMatch('a', ['"a"'])).toBe(false);
    expect(noneMatch(undefined, ['"a"'])).toBe(false);
  });
});

describe('parseRange', () => {
  it('serves one satisfiable range, refuses ranges past the end, and ignores the rest', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ kind: 'range', offset: 0, length: 10 });
    expect(parseRange('bytes=90-', 100)).toEqual({ kind: 'range', offset: 90, length: 10 });
    expect(parseRange('bytes=-5', 100)).toEqual({ kind: 'range', offset: 95, length: 5 });
    expect(parseRange('bytes=-500', 100)).toEqual({ kind: 'range', offset: 0, length: 100 });
    expect(parseRange('bytes=50-5000', 100)).toEqual({ kind: 'range', offset: 50, length: 50 });
    expect(parseRange('bytes=100-', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-0', 100)).toEqual({ kind: 'unsatisfiable' });
    for (const h of ['bytes=5-1', 'bytes=0-1,3-4', 'items=0-1', 'bytes=a-b', 'bytes=-', '']) {
      expect(parseRange(h, 100), h).toEqual({ kind: 'none' });
    }
  });

  it('any range it serves lies inside the object', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.nat(10_000), (h, size) => {
        const r = parseRange(`bytes=${h}`, size);
        return r.kind !== 'range' || (r.offset >= 0 && r.length >= 1 && r.offset + r.length <= size);
      }),
    );
  });
});

describe('resolveRoute', () => {
  it('maps every path to one route, and no path outside v1/ and assets/plugins/ to a document or archive', () => {
    fc.assert(
      fc.property(fc.webPath(), (path) => {
        const r = resolveRoute(path);
        if (r.kind === 'document')
          return (
            /^v1\/(index|categories|openapi)\.json$|^v1\/(plugins|categories)\/[a-z0-9._-]+\.json$/.test(
              r.path,
            ) && !r.path.includes('..')
          );
        if (r.kind === 'archive') return /^assets\/plugins\/[A-Za-z0-9_+-][A-Za-z0-9._+-]*$/.test(r.key);
        return true;
      }),
    );
  });

  it('refuses dot segments and escapes in ids', () => {
    for (const p of [
      '/v1/plugins/..',
      '/v1/plugins/%2e%2e',
      '/v1/plugins/a%2Fb.json',
      '/assets/plugins/..',
      '/assets/plugins/.x',
    ]) {
      expect(resolveRoute(p).kind, p).toBe('none');
    }
  });
});
