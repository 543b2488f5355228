/**
 * The HTML output as a person sees it: headless Chromium renders the page to a PNG, which we
 * decode here (zlib + PNG filters, no image library) to check that something was drawn, that
 * every label's colour is on screen and that nothing from the text ran as a script.
 *
 * Needs Debian's chromium (`apt-get install -y chromium`); skipped with a message without it.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import type { Entity } from '../src/decoding';
import { formatResults } from '../src/output/formats';
import { labelColor } from '../src/output/html';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = fs.existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  // eslint-disable-next-line no-console
  console.warn(`html-render.test.ts: skipped: ${CHROMIUM} not found (install it with: apt-get install -y chromium)`);
}
const maybe = HAVE_CHROMIUM ? test : test.skip;

import { Image, decodePng } from './helpers/png';

export { decodePng };

function screenshot(html: string, width: number, height: number): Image {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-html-'));
  try {
    const page = path.join(dir, 'page.html');
    const png = path.join(dir, 'shot.png');
    fs.writeFileSync(page, html);
    const r = spawnSync(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--hide-scrollbars',
        '--force-device-scale-factor=1',
        `--user-data-dir=${path.join(dir, 'profile')}`,
        `--screenshot=${png}`,
        `--window-size=${width},${height}`,
        `file://${page}`,
      ],
      { encoding: 'utf8', timeout: 90_000 },
    );
    if (!fs.existsSync(png)) throw new Error(`chromium wrote no screenshot (exit ${r.status}, signal ${r.signal}): ${r.stderr.slice(-2000)}`);
    return decodePng(fs.readFileSync(png));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function hexRgb(hex: string): [number, number, number] {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
}

/** Pixels within `tol` of the colour on every channel. */
function countColour(img: Image, [r, g, b]: [number, number, number], tol = 2): number {
  let n = 0;
  for (let i = 0; i < img.rgba.length; i += 4) {
    if (Math.abs(img.rgba[i] - r) <= tol && Math.abs(img.rgba[i + 1] - g) <= tol && Math.abs(img.rgba[i + 2] - b) <= tol) n++;
  }
  return n;
}

function ent(text: string, piece: string, label: string, score: number): Entity {
  const start = text.indexOf(piece);
  return { start, end: start + piece.length, text: piece, label, score };
}

describe('html output rendered by headless Chromium', () => {
  test('decodePng reads a PNG we build by hand (all five filter types)', () => {
    // 3x5 RGB image, one row per filter type, then check the pixels come back.
    const w = 3;
    const h = 5;
    const px = (x: number, y: number) => [(x * 80 + y * 7) & 255, (y * 50) & 255, (x * y * 30) & 255];
    const rows: number[] = [];
    const rowBytes = (y: number) => Array.from({ length: w }, (_, x) => px(x, y)).flat();
    for (let y = 0; y < h; y++) {
      const cur = rowBytes(y);
      const prev = y > 0 ? rowBytes(y - 1) : new Array(w * 3).fill(0);
      const filter = y; // 0 none, 1 sub, 2 up, 3 average, 4 paeth
      rows.push(filter);
      cur.forEach((v, i) => {
        const a = i >= 3 ? cur[i - 3] : 0;
        const b = prev[i];
        const c = i >= 3 ? prev[i - 3] : 0;
        const p = a + b - c;
        const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
        const pred = [0, a, b, (a + b) >> 1, paeth][filter];
        rows.push((v - pred) & 255);
      });
    }
    const chunk = (type: string, data: Buffer) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length);
      return Buffer.concat([len, Buffer.from(type, 'latin1'), data, Buffer.alloc(4)]); // CRC is not checked
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(w, 0);
    ihdr.writeUInt32BE(h, 4);
    ihdr[8] = 8;
    ihdr[9] = 2;
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', zlib.deflateSync(Buffer.from(rows))),
      chunk('IEND', Buffer.alloc(0)),
    ]);
    const img = decodePng(png);
    expect([img.width, img.height]).toEqual([w, h]);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) expect([...img.rgba.subarray((y * w + x) * 4, (y * w + x) * 4 + 4)]).toEqual([...px(x, y), 255]);
    }
  });

  maybe('the page is drawn: text, one colour per label (legend and highlights), no script runs', () => {
    const t1 = 'Alice Martin visited Paris on 3 May 2021 with <script>document.body.style.background="#ff0000"</script> friends.';
    const t2 = 'The University of California Berkeley hired Bob Chen in London.';
    const results = [
      {
        text: t1,
        entities: [
          ent(t1, 'Alice Martin', 'person', 0.98),
          ent(t1, 'Paris', 'city', 0.91),
          ent(t1, '3 May 2021', 'date', 0.85),
          ent(t1, '<script>document.body.style.background="#ff0000"</script>', '<img src=x onerror=alert(1)>', 0.5),
        ],
      },
      {
        text: t2,
        entities: [
          ent(t2, 'University of California Berkeley', 'organization', 0.7),
          ent(t2, 'California', 'city', 0.6),
          ent(t2, 'Bob Chen', 'person', 0.9),
          ent(t2, 'London', 'city', 0.8),
        ],
      },
    ];
    const labels = ['person', 'city', 'date', '<img src=x onerror=alert(1)>', 'organization'];
    const img = screenshot(formatResults(results, 'html', { labels }), 1000, 500);
    expect([img.width, img.height]).toEqual([1000, 500]);

    const total = img.width * img.height;
    const white = countColour(img, [255, 255, 255], 0);
    const distinct = new Set<number>();
    for (let i = 0; i < img.rgba.length; i += 4) distinct.add((img.rgba[i] << 16) | (img.rgba[i + 1] << 8) | img.rgba[i + 2]);
    // A blank (or failed) render is one colour; text and highlights give hundreds.
    expect(distinct.size).toBeGreaterThan(50);
    expect(total - white).toBeGreaterThan(total * 0.05);
    expect(white).toBeGreaterThan(total * 0.3); // the page background stayed white: the "script" did not run

    labels.forEach((label, i) => {
      const n = countColour(img, hexRgb(labelColor(i)));
      // Legend chip plus highlights: at least a few hundred pixels of each label's colour.
      expect({ label, pixels: n > 300 }).toEqual({ label, pixels: true });
    });
    expect(countColour(img, [255, 0, 0], 10)).toBe(0);
  });
});
