/**
 * Bad and unusual input to the public API: each case either works with offsets that index the
 * caller's string, or fails with an error that names the argument. docs/robustness.md lists them.
 */
import * as fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { Entity, GLiNER } from '../src/gliner';
import { initBackend } from '../src/backend';
import { referenceModelDirs } from './helpers/reference';

const LABELS = ['person', 'city'];

describe('robustness of predictEntities / batchPredictEntities', () => {
  let model: GLiNER;
  beforeAll(async () => {
    await initBackend('wasm');
    model = await GLiNER.fromPretrained(referenceModelDirs()[0]);
  });
  afterAll(() => model.dispose());

  const valid = (text: string, entities: { start: number; end: number; text: string }[]) => {
    for (const e of entities) {
      expect(e.start).toBeGreaterThanOrEqual(0);
      expect(e.end).toBeLessThanOrEqual(text.length);
      expect(text.slice(e.start, e.end)).toBe(e.text);
    }
  };

  test.each([
    ['empty text', ''],
    ['spaces, tabs and newlines only', ' \t\n\r\n  '],
    ['ideographic space and NBSP only', '\u3000\u00a0\u2003'],
  ])('%s gives no entities', async (_name, text) => {
    expect(await model.predictEntities(text, LABELS, { threshold: 0 })).toEqual([]);
  });

  test.each([
    ['a 10,000-character word', `Alice ${'x'.repeat(10000)} Paris`],
    ['control characters', 'Alice\u0000 met\u0007 Bob\u001b in Paris\u007f.'],
    ['emoji and ZWJ sequences', 'Alice 👩‍👩‍👧 met Bob 🇫🇷 in Paris 🎉.'],
    ['combining marks', 'Chloe\u0301 met Zoe\u0308 in Ko\u0301ln.'],
    ['right-to-left scripts', 'التقى أحمد بسارة في القاهرة. דוד גר בירושלים.'],
    ['mixed newlines', 'Alice\r\nmet Bob\rin\nParis.'],
    ['a lone zero-width joiner as a word', 'Alice \u200d Paris'],
    ['lone surrogates', 'Alice \ud800 met \udc00 Bob'],
    ['CJK without spaces', '東京で山田太郎に会った。'],
  ])('%s: works, offsets index the string', async (_name, text) => {
    const entities = await model.predictEntities(text, LABELS, { threshold: 0.05, flatNer: false, multiLabel: true });
    valid(text, entities);
  });

  test('random strings never break offsets (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 60 }), async (text) => {
        valid(text, await model.predictEntities(text, LABELS, { threshold: 0.1 }));
      }),
      { numRuns: 60 },
    );
  });

  test('labels: empty list, empty label, non-strings and count mismatches are errors naming the argument', async () => {
    await expect(model.predictEntities('Alice', [])).rejects.toThrow(/labels is empty/);
    await expect(model.predictEntities('Alice', ['person', ' '])).rejects.toThrow(/labels\[1\] is an empty label/);
    await expect(model.predictEntities('Alice', ['person', 3 as unknown as string])).rejects.toThrow(/labels\[1\] must be a string, got number/);
    await expect(model.predictEntities('Alice', 'person' as unknown as string[])).rejects.toThrow(/labels must be an array/);
    await expect(model.batchPredictEntities(['a', 'b'], [['person']])).rejects.toThrow(/labels has 1 lists but there are 2 texts/);
    await expect(model.batchPredictEntities(['a'], [[]])).rejects.toThrow(/labels\[0\] is empty/);
  });

  test('duplicate labels count once', async () => {
    const text = 'Alice Martin visited Paris.';
    expect(await model.predictEntities(text, ['person', 'city', 'person'], { threshold: 0.2 })).toEqual(
      await model.predictEntities(text, ['person', 'city'], { threshold: 0.2 }),
    );
  });

  test.each([
    [{ threshold: -0.1 }, /threshold must be a finite number in \[0, 1\], got -0.1/],
    [{ threshold: 1.5 }, /threshold must be a finite number in \[0, 1\], got 1.5/],
    [{ threshold: NaN }, /threshold must be a finite number in \[0, 1\], got NaN/],
    [{ threshold: '0.5' as unknown as number }, /threshold must be a finite number/],
    [{ flatNer: 'yes' as unknown as boolean }, /flatNer must be a boolean/],
    [{ batchSize: 0 }, /batchSize must be a positive integer, got 0/],
    [{ batchSize: 1.5 }, /batchSize must be a positive integer, got 1.5/],
    [{ maxLen: -3 }, /maxLen must be a positive integer/],
  ])('option %p is rejected', async (options, message) => {
    await expect(model.predictEntities('Alice', LABELS, options)).rejects.toThrow(message);
  });

  test('non-string texts from JavaScript callers are errors naming the index', async () => {
    await expect(model.predictEntities(42 as unknown as string, LABELS)).rejects.toThrow(/texts\[0\] must be a string, got number/);
    await expect(model.batchPredictEntities(['ok', null as unknown as string], LABELS)).rejects.toThrow(/texts\[1\] must be a string, got null/);
    await expect(model.batchPredictEntities('text' as unknown as string[], LABELS)).rejects.toThrow(/texts must be an array/);
    await expect(model.predictEntities('Alice', LABELS, null as unknown as object)).rejects.toThrow(/options must be an object/);
  });

  test('concurrent async callers get the same results as sequential calls, and no tensors leak', async () => {
    const texts = ['Alice Martin visited Paris.', 'Bob Chen moved to Tokyo.', 'Marie Curie worked in Paris with Pierre.', 'Oslo'];
    const sequential: Entity[][] = [];
    for (const t of texts) sequential.push(await model.predictEntities(t, LABELS, { threshold: 0.3 }));
    const before = tf.memory().numTensors;
    const concurrent = await Promise.all(
      Array.from({ length: 24 }, (_, i) => model.predictEntities(texts[i % texts.length], LABELS, { threshold: 0.3 })),
    );
    concurrent.forEach((r, i) => expect(r).toEqual(sequential[i % texts.length]));
    expect(tf.memory().numTensors).toBe(before);
  });

  test('a disposed model refuses to predict', async () => {
    const m = await GLiNER.fromPretrained(referenceModelDirs()[0]);
    m.dispose();
    m.dispose(); // idempotent
    await expect(m.predictEntities('Alice', LABELS)).rejects.toThrow(/disposed/);
  });
});
