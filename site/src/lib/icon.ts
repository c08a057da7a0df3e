// The site's icon: one drawing (a particle on its orbit, Magellon's voyage around a specimen) in a
// 32-unit square, written two ways from the same shapes: as SVG for browsers that take it, and as
// a Windows icon (ICO, 32-bit BMP images at 16, 32 and 48 px) rasterized here at build time, for
// /favicon.ico. No image tools are involved, so the two cannot drift apart.

type Rgb = readonly [number, number, number];

type Shape =
  | { kind: 'square'; size: number; radius: number; fill: string }
  | { kind: 'disc'; cx: number; cy: number; r: number; fill: string }
  | { kind: 'ring'; cx: number; cy: number; r: number; width: number; stroke: string };

const VIEW = 32;
const BLUE = '#0b5cad';
const WHITE = '#ffffff';
const AMBER = '#ffb45c';
const ORBIT = 9.5;
const AT = (-45 * Math.PI) / 180;
const SHIP = { cx: 16 + ORBIT * Math.cos(AT), cy: 16 + ORBIT * Math.sin(AT) };

/** Back to front; every shape is opaque. */
export const MARK: readonly Shape[] = [
  { kind: 'square', size: VIEW, radius: 7, fill: BLUE },
  { kind: 'ring', cx: 16, cy: 16, r: ORBIT, width: 2.5, stroke: WHITE },
  { kind: 'disc', cx: 16, cy: 16, r: 3, fill: WHITE },
  { kind: 'disc', ...SHIP, r: 4.9, fill: BLUE },
  { kind: 'disc', ...SHIP, r: 3.3, fill: AMBER },
];

const num = (n: number) => String(Math.round(n * 100) / 100);

/** The mark as an SVG document. */
export function faviconSvg(): string {
  const parts = MARK.map((s) => {
    if (s.kind === 'square')
      return `<rect width="${num(s.size)}" height="${num(s.size)}" rx="${num(s.radius)}" fill="${s.fill}"/>`;
    if (s.kind === 'disc')
      return `<circle cx="${num(s.cx)}" cy="${num(s.cy)}" r="${num(s.r)}" fill="${s.fill}"/>`;
    return `<circle cx="${num(s.cx)}" cy="${num(s.cy)}" r="${num(s.r)}" fill="none" stroke="${s.stroke}" stroke-width="${num(s.width)}"/>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${VIEW} ${VIEW}">${parts.join('')}</svg>\n`;
}

const rgb = (hex: string): Rgb => [
  Number.parseInt(hex.slice(1, 3), 16),
  Number.parseInt(hex.slice(3, 5), 16),
  Number.parseInt(hex.slice(5, 7), 16),
];

function inside(s: Shape, x: number, y: number): boolean {
  switch (s.kind) {
    case 'square': {
      const half = s.size / 2;
      const qx = Math.max(Math.abs(x - half) - (half - s.radius), 0);
      const qy = Math.max(Math.abs(y - half) - (half - s.radius), 0);
      return Math.hypot(qx, qy) <= s.radius;
    }
    case 'disc':
      return Math.hypot(x - s.cx, y - s.cy) <= s.r;
    case 'ring':
      return Math.abs(Math.hypot(x - s.cx, y - s.cy) - s.r) <= s.width / 2;
  }
}

/** The mark at `size`×`size` pixels, RGBA rows top to bottom (8×8 samples a pixel). */
export function rasterize(size: number, samples = 8): Uint8Array {
  const colours = MARK.map((s) => rgb(s.kind === 'ring' ? s.stroke : s.fill));
  const out = new Uint8Array(size * size * 4);
  const scale = VIEW / size;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let covered = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const x = (px + (sx + 0.5) / samples) * scale;
          const y = (py + (sy + 0.5) / samples) * scale;
          for (let i = MARK.length - 1; i >= 0; i--) {
            if (inside(MARK[i]!, x, y)) {
              const c = colours[i]!;
              r += c[0];
              g += c[1];
              b += c[2];
              covered++;
              break;
            }
          }
        }
      }
      const at = (py * size + px) * 4;
      if (covered > 0) {
        out[at] = Math.round(r / covered);
        out[at + 1] = Math.round(g / covered);
        out[at + 2] = Math.round(b / covered);
        out[at + 3] = Math.round((255 * covered) / (samples * samples));
      }
    }
  }
  return out;
}

/** A Windows icon file holding the mark at each size (32-bit BMP images with an AND mask). */
export function faviconIco(sizes: readonly number[] = [16, 32, 48]): Uint8Array<ArrayBuffer> {
  const images = sizes.map((size) => {
    const rgba = rasterize(size);
    const maskRow = Math.ceil(size / 32) * 4;
    const bytes = new Uint8Array(40 + size * size * 4 + maskRow * size);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, 40, true); // BITMAPINFOHEADER
    view.setInt32(4, size, true);
    view.setInt32(8, size * 2, true); // colour rows and mask rows
    view.setUint16(12, 1, true);
    view.setUint16(14, 32, true);
    view.setUint32(20, size * size * 4 + maskRow * size, true);
    for (let y = 0; y < size; y++) {
      const row = size - 1 - y; // bottom-up
      for (let x = 0; x < size; x++) {
        const from = (y * size + x) * 4;
        const to = 40 + (row * size + x) * 4;
        bytes[to] = rgba[from + 2]!;
        bytes[to + 1] = rgba[from + 1]!;
        bytes[to + 2] = rgba[from]!;
        bytes[to + 3] = rgba[from + 3]!;
        if (rgba[from + 3] === 0) {
          const m = 40 + size * size * 4 + row * maskRow + (x >> 3);
          bytes[m] = bytes[m]! | (0x80 >> (x & 7));
        }
      }
    }
    return { size, bytes };
  });
  const header = 6 + 16 * images.length;
  const total = header + images.reduce((n, i) => n + i.bytes.length, 0);
  const ico = new Uint8Array(total);
  const view = new DataView(ico.buffer);
  view.setUint16(2, 1, true); // type: icon
  view.setUint16(4, images.length, true);
  let offset = header;
  images.forEach(({ size, bytes }, i) => {
    const at = 6 + 16 * i;
    ico[at] = size >= 256 ? 0 : size;
    ico[at + 1] = size >= 256 ? 0 : size;
    view.setUint16(at + 4, 1, true);
    view.setUint16(at + 6, 32, true);
    view.setUint32(at + 8, bytes.length, true);
    view.setUint32(at + 12, offset, true);
    ico.set(bytes, offset);
    offset += bytes.length;
  });
  return ico;
}
