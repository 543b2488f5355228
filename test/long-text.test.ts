/**
 * Long texts and many labels: nothing is cut off, windows are merged with correct offsets.
 * Uses the reference model whose max_len is smallest, so a few hundred words span many windows.
 */
import * as tf from '@tensorflow/tfjs';
import { GLiNER } from '../src/gliner';
import { GlinerModel, ModelInput } from '../src/model';
import { initBackend } from '../src/backend';
import { splitWords } from '../src/processing/word-splitter';
import { planLabelGroups, planWindows, promptTokenCount } from '../src/processing/windows';
import { loadReference, referenceModelDirs } from './helpers/reference';
import { expectSameEntities } from './helpers/entities';

describe('window planning', () => {
  test('windows respect the word and token limits, overlap, and cover every word', () => {
    const counts = Array.from({ length: 500 }, (_, i) => 1 + ((i * 7) % 5));
    const windows = planWindows(counts, 40, 100, 6);
    expect(windows[0].start).toBe(0);
    expect(windows[windows.length - 1].end).toBe(500);
    windows.forEach((w, i) => {
      expect(w.end - w.start).toBeLessThanOrEqual(40);
      expect(counts.slice(w.start, w.end).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(100);
      if (i > 0) {
        expect(w.start).toBe(windows[i - 1].end - 6);
      }
    });
  });

  test('a word larger than the budget gets a window of its own; progress is always made', () => {
    expect(planWindows([1, 50, 1, 1], 10, 5, 3)).toEqual([
      { start: 0, end: 1 },
      { start: 1, end: 2 },
      { start: 2, end: 4 },
    ]);
    expect(planWindows([], 10, 5, 3)).toEqual([]);
  });

  test('label groups keep each prompt within its budget, in order', () => {
    const counts = [3, 3, 3, 10, 1, 1];
    const groups = planLabelGroups(counts, 3 + 4 + 4 + 4); // room for three 3-token labels
    expect(groups).toEqual([
      { start: 0, end: 3 },
      { start: 3, end: 4 },
      { start: 4, end: 6 },
    ]);
    for (const g of groups.slice(0, 1)) expect(promptTokenCount(counts.slice(g.start, g.end))).toBeLessThanOrEqual(15);
  });
});

const dir = referenceModelDirs()
  .map((d) => ({ d, maxLen: JSON.parse(require('fs').readFileSync(`${d}/gliner_config.json`, 'utf8')).max_len as number }))
  .sort((a, b) => a.maxLen - b.maxLen)[0].d;

describe(`long texts on ${loadReference(dir).name}`, () => {
  let model: GLiNER;
  const sentences = [
    'Alice Martin visited Paris on 3 May 2021.',
    'Bob Chen moved to Tokyo with Marie Curie.',
    'Toyota signed with Juventus in Cairo last week.',
    'Ada Lovelace wrote about code in London.',
  ];
  const longText = Array.from({ length: 24 }, (_, i) => sentences[i % sentences.length]).join(' ');
  const labels = ['person', 'city', 'organization', 'date'];

  beforeAll(async () => {
    await initBackend('wasm');
    model = await GLiNER.fromPretrained(dir);
  });
  afterAll(() => model.dispose());

  test('a text longer than max_len is windowed, not truncated: entities reach its end, offsets index the text', async () => {
    const words = splitWords(longText);
    expect(words.length).toBeGreaterThan(3 * model.config.maxLen);
    const entities = await model.predictEntities(longText, labels, { threshold: 0.3 });
    for (const e of entities) expect(longText.slice(e.start, e.end)).toBe(e.text);
    const lastWordStart = words[words.length - model.config.maxLen].start;
    expect(entities.some((e) => e.start >= lastWordStart)).toBe(true);
    // Flat output: sorted, no overlaps, no span reported twice.
    for (let i = 1; i < entities.length; i++) expect(entities[i].start).toBeGreaterThanOrEqual(entities[i - 1].end);
  });

  test('entities that straddle a window boundary are found once, with text offsets (scripted scores)', async () => {
    // A stand-in network that scores exactly one span per window: words "Marie Curie" as person.
    // What it can see depends only on the window, so this pins the window planning and merging.
    const marie = model.tokenizer.encodeWord('Marie')[0];
    const curie = model.tokenizer.encodeWord('Curie')[0];
    const scripted = {
      output: 'span',
      forward(input: ModelInput) {
        const { batchSize: B, numWords: L, numClasses: C } = input;
        const W = model.config.maxWidth;
        const logits = new Float32Array(B * L * W * C).fill(-10);
        for (let b = 0; b < B; b++) {
          const first = (w: number) => input.inputIds[input.wordTokenIndex[b * L + w]];
          for (let s = 0; s + 1 < input.textLengths[b]; s++) {
            if (first(s) === marie && first(s + 1) === curie) logits[((b * L + s) * W + 1) * C + 0] = 5;
          }
        }
        return { logits: tf.tensor4d(logits, [B, L, W, C]) };
      },
    } as unknown as GlinerModel;
    const fake = new GLiNER(model.config, scripted, model.tokenizer, null);
    const filler = (n: number) => Array.from({ length: n }, (_, i) => `word${i % 10}`);
    const maxLen = model.config.maxLen;
    // "Marie" is the last word of the first window, "Curie" the first word after it; a second
    // mention sits inside the overlap, where both windows see it.
    const words = [...filler(maxLen - 1), 'Marie', 'Curie', ...filler(maxLen)];
    words.splice(maxLen - 4, 2, 'Marie', 'Curie');
    const text = words.join(' ');
    const entities = await fake.predictEntities(text, ['person'], { flatNer: false });
    const at = (k: number) => words.slice(0, k).join(' ').length + (k > 0 ? 1 : 0);
    expect(entities.map((e) => [e.start, e.end, e.text, e.label])).toEqual([
      [at(maxLen - 4), at(maxLen - 2) - 1, 'Marie Curie', 'person'],
      [at(maxLen - 1), at(maxLen + 1) - 1, 'Marie Curie', 'person'],
    ]);
    // The straddling mention really crosses the first window's last word.
    const overlap = Math.max(model.config.maxWidth, Math.floor(maxLen / 8));
    expect(planWindows(words.map(() => 1), maxLen, 1e9, overlap)[0].end).toBe(maxLen);
  });

  test('away from window edges, a long text gives the same entities as its window alone', async () => {
    const words = splitWords(longText);
    const W = model.config.maxWidth;
    const overlap = Math.max(W, Math.floor(model.config.maxLen / 8));
    const windows = planWindows(words.map(() => 1), model.config.maxLen, 1e9, overlap);
    const win = windows[1];
    const part = longText.slice(words[win.start].start, words[win.end - 1].end);
    const offset = words[win.start].start;
    // The window's interior: neither it nor any span that can clash with it reaches another window.
    const lo = words[windows[0].end - 1 + 2 * W].start;
    const hi = words[windows[2].start - 2 * W].end;
    const inside = (e: { start: number; end: number }) => e.start >= lo && e.end <= hi;
    const opts = { threshold: 0.3 };
    const whole = (await model.predictEntities(longText, labels, opts)).filter(inside);
    const alone = (await model.predictEntities(part, labels, opts))
      .map((e) => ({ ...e, start: e.start + offset, end: e.end + offset }))
      .filter(inside);
    expect(whole.length).toBeGreaterThan(0);
    expectSameEntities(whole, alone);
  });

  test('truncate: true cuts at max_len words and warns; maxLen overrides the window size', async () => {
    const warnings: string[] = [];
    const m = await GLiNER.fromPretrained(dir, { onWarning: (w) => warnings.push(w) });
    try {
      const words = splitWords(longText);
      const cut = await m.predictEntities(longText, labels, { threshold: 0.3, truncate: true });
      expect(warnings.join('\n')).toMatch(/truncated to the first \d+ words/);
      const limit = words[m.config.maxLen - 1].end;
      for (const e of cut) expect(e.end).toBeLessThanOrEqual(limit);
      expect(await m.predictEntities(longText, labels, { threshold: 0.3, maxLen: 20, windowOverlap: m.config.maxWidth })).toBeInstanceOf(Array);
      await expect(m.predictEntities(longText, labels, { windowOverlap: 0 })).rejects.toThrow(/windowOverlap must be an integer/);
    } finally {
      m.dispose();
    }
  });

  test('hundreds of labels are split into prompt groups; every label can be returned', async () => {
    const many = [...labels, ...Array.from({ length: 200 }, (_, i) => `entity type number ${i}`)];
    const entities = await model.predictEntities(sentences.join(' '), many, { threshold: 0.3, flatNer: false, multiLabel: true });
    for (const e of entities) expect(many).toContain(e.label);
    expect(new Set(entities.map((e) => e.label)).size).toBeGreaterThan(1);
  });

  test('a 20,000-word text runs in bounded memory and leaves no tensors behind', async () => {
    const huge = Array.from({ length: 2500 }, (_, i) => sentences[i % sentences.length]).join(' ');
    expect(splitWords(huge).length).toBeGreaterThanOrEqual(20000);
    const before = tf.memory().numTensors;
    const rss0 = process.memoryUsage().rss;
    const entities = await model.predictEntities(huge, labels, { threshold: 0.5, batchSize: 16 });
    const grew = process.memoryUsage().rss - rss0;
    expect(tf.memory().numTensors).toBe(before);
    expect(entities.length).toBeGreaterThan(0);
    // Windows are processed a batch at a time; growth stays far below holding every window's activations.
    expect(grew).toBeLessThan(400 * 1024 * 1024);
  });
});
