/**
 * The demo page in headless Chromium (puppeteer-core + Debian's chromium): type a text, press
 * the button, the highlighted entities appear with their label colours; no request leaves
 * 127.0.0.1. The screenshot is kept in $GLINER_TF_SCREENSHOT_DIR (default: the temp folder).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import puppeteer from 'puppeteer-core';
import { GLiNER } from '../src/gliner';
import { RunningServer, startServer } from '../src/serve/app';
import { labelColor } from '../src/output/html';
import { decodePng } from './helpers/png';
import { ROOT } from './helpers/cli';

const CHROMIUM = '/usr/bin/chromium';
const maybe = fs.existsSync(CHROMIUM) ? test : test.skip;
const LABELS = ['person', 'organization', 'city', 'date'];
const TEXT = 'Kalo Dorvasel joined Tavosel Labs in Mirenburg on 4 May 2021.';

let model: GLiNER;
let server: RunningServer;
beforeAll(async () => {
  model = await GLiNER.fromPretrained(path.join(ROOT, 'fixtures', 'models', 'demo'), { backend: 'wasm' });
  server = await startServer({ model, port: 0 });
});
afterAll(async () => {
  await server?.close();
  model?.dispose();
});

maybe('type a text, press the button: highlighted entities, legend and table appear', async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-demo-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`],
  });
  const outside: string[] = [];
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1000, height: 700 });
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      if (new URL(req.url()).hostname !== '127.0.0.1') {
        outside.push(req.url());
        return void req.abort();
      }
      void req.continue();
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}/`);
    await page.$eval('#text', (el) => ((el as any).value = ''));
    await page.type('#text', TEXT);
    await page.$eval('#labels', (el) => ((el as any).value = ''));
    await page.type('#labels', LABELS.join(', '));
    await page.click('#run');
    await page.waitForSelector('#highlighted mark.e');
    const marks = await page.$$eval('#highlighted mark.e', (ms) => ms.map((m) => ({ label: (m as any).dataset.label, text: m.firstChild!.textContent })));
    const want = await model.predictEntities(TEXT, LABELS);
    expect(want.length).toBeGreaterThan(0);
    expect(marks).toEqual(want.map((e) => ({ label: e.label, text: e.text })));
    const rows = await page.$$eval('#entities tr', (rs) => rs.length);
    expect(rows).toBe(want.length + 1);
    const legend = await page.$$eval('#legend li', (ls) => ls.map((l) => l.firstChild!.textContent));
    expect(legend).toEqual(LABELS);

    const dir = process.env.GLINER_TF_SCREENSHOT_DIR ?? os.tmpdir();
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'gliner-demo-page.png');
    await page.screenshot({ path: file });
    const img = decodePng(fs.readFileSync(file));
    const distinct = new Set<number>();
    for (let i = 0; i < img.rgba.length; i += 4) distinct.add((img.rgba[i] << 16) | (img.rgba[i + 1] << 8) | img.rgba[i + 2]);
    expect(distinct.size).toBeGreaterThan(50); // not blank
    const count = (hex: string) => {
      const [r, g, b] = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
      let n = 0;
      for (let i = 0; i < img.rgba.length; i += 4) if (Math.abs(img.rgba[i] - r) <= 2 && Math.abs(img.rgba[i + 1] - g) <= 2 && Math.abs(img.rgba[i + 2] - b) <= 2) n++;
      return n;
    };
    LABELS.forEach((label, i) => expect({ label, seen: count(labelColor(i)) > 300 }).toEqual({ label, seen: true }));
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  expect(outside).toEqual([]);
});
