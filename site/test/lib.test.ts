// The site's small pure helpers: count phrases, sizes, the archive link rule, and the icon files.
import { archiveDownloadUrl } from '@magellon/hub-core';
import { describe, expect, it } from 'vitest';
import { faviconIco, faviconSvg, rasterize } from '../src/lib/icon';
import { exactSize, humanSize, pick, plural } from '../src/lib/words';

describe('count phrases', () => {
  it('agree with their number', () => {
    expect(plural(1, 'backend')).toBe('1 backend');
    expect(plural(3, 'backend')).toBe('3 backends');
    expect(plural(0, 'plugin')).toBe('0 plugins');
    expect(plural(1, 'category', 'categories')).toBe('1 category');
    expect(plural(2, 'category', 'categories')).toBe('2 categories');
    expect(`${plural(1, 'backend')} ${pick(1, 'serves', 'serve')}`).toBe('1 backend serves');
    expect(`${plural(2, 'backend')} ${pick(2, 'serves', 'serve')}`).toBe('2 backends serve');
  });
});

describe('sizes', () => {
  it('read as download sizes, exact in the tooltip', () => {
    expect(humanSize(0)).toBe('0 B');
    expect(humanSize(999)).toBe('999 B');
    expect(humanSize(1000)).toBe('1.0 kB');
    expect(humanSize(27_436)).toBe('27.4 kB');
    expect(humanSize(1_234_567)).toBe('1.2 MB');
    expect(humanSize(999_999)).toBe('1.0 MB');
    expect(humanSize(3_500_000_000)).toBe('3.5 GB');
    expect(exactSize(1)).toBe('1 byte');
    expect(exactSize(27_436)).toBe('27,436 bytes');
  });
});

describe('archive links', () => {
  it('keep a hub-relative URL for a page the hub serves, resolve it against a hub otherwise', () => {
    expect(archiveDownloadUrl('/assets/plugins/fft-1.1.0.mpn')).toBe('/assets/plugins/fft-1.1.0.mpn');
    expect(archiveDownloadUrl('/assets/plugins/a%20b.mpn', 'https://hub.example.org')).toBe(
      'https://hub.example.org/assets/plugins/a%20b.mpn',
    );
    // As CoreService resolves it: against the hub's origin, whatever path the hub URL has.
    expect(archiveDownloadUrl('/assets/plugins/x.mpn', 'http://127.0.0.1:8080/some/path')).toBe(
      'http://127.0.0.1:8080/assets/plugins/x.mpn',
    );
    expect(archiveDownloadUrl('https://cdn.example.org/x.mpn', 'https://hub.example.org')).toBe(
      'https://cdn.example.org/x.mpn',
    );
    expect(archiveDownloadUrl('https://cdn.example.org/x.mpn')).toBe('https://cdn.example.org/x.mpn');
  });
});

describe('the icon', () => {
  it('is one drawing as SVG and as a Windows icon of 16, 32 and 48 px', () => {
    const svg = faviconSvg();
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 32 32">/);
    expect(svg.match(/<circle /g)?.length).toBe(4);

    const ico = faviconIco();
    const view = new DataView(ico.buffer, ico.byteOffset, ico.byteLength);
    expect([view.getUint16(0, true), view.getUint16(2, true), view.getUint16(4, true)]).toEqual([0, 1, 3]);
    let end = 6 + 16 * 3;
    for (const [i, size] of [16, 32, 48].entries()) {
      const at = 6 + 16 * i;
      expect([ico[at], ico[at + 1], view.getUint16(at + 6, true)]).toEqual([size, size, 32]);
      const length = view.getUint32(at + 8, true);
      const offset = view.getUint32(at + 12, true);
      expect(offset).toBe(end);
      end += length;
      // The BMP header: 40 bytes, size × 2·size (colour and mask), 32 bits a pixel.
      expect(view.getUint32(offset, true)).toBe(40);
      expect([view.getInt32(offset + 4, true), view.getInt32(offset + 8, true)]).toEqual([size, 2 * size]);
      expect(length).toBe(40 + size * size * 4 + Math.ceil(size / 32) * 4 * size);
    }
    expect(end).toBe(ico.length);
  });

  it('rasterizes the shapes where the SVG puts them', () => {
    const px = rasterize(32);
    const at = (x: number, y: number) => [...px.subarray((y * 32 + x) * 4, (y * 32 + x) * 4 + 4)];
    expect(at(0, 0)[3]).toBe(0); // outside the rounded corner: transparent
    expect(at(16, 16)).toEqual([255, 255, 255, 255]); // the centre disc
    expect(at(3, 16)).toEqual([11, 92, 173, 255]); // the blue square
    expect(at(22, 9)).toEqual([255, 180, 92, 255]); // the amber point on the orbit
  });
});
