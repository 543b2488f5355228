/**
 * dispose() with calls in flight, and absurd predict options: clear errors, no crash, no leak.
 */
import * as tf from '@tensorflow/tfjs';
import { GLiNER, ModelDisposedError } from '../src/gliner';
import { initBackend } from '../src/backend';
import { referenceModelDirs } from './helpers/reference';

describe('dispose() while predictions are running', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  test('calls in flight fail with ModelDisposedError (not a TypeError); later calls too; the tensors are freed once they stop', async () => {
    const before = tf.memory().numTensors;
    const model = await GLiNER.fromPretrained(referenceModelDirs()[0]);
    const texts = Array.from({ length: 40 }, (_, i) => `Alice ${i} moved to Paris with Bob.`);
    const calls = [0, 1, 2].map(() => model.batchPredictEntities(texts, ['person', 'city'], { batchSize: 2 }));
    // each call has run up to its first await (its first forward pass); tfjs resolves reads in microtasks
    model.dispose();
    const settled = await Promise.allSettled(calls);
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      const e = (s as PromiseRejectedResult).reason;
      expect(e).toBeInstanceOf(ModelDisposedError);
      expect(e.code).toBe('MODEL_DISPOSED');
      expect(e.message).toMatch(/disposed \(dispose\(\) was called while this call was running\)/);
    }
    expect(tf.memory().numTensors).toBe(before);
    await expect(model.predictEntities('Alice', ['person'])).rejects.toThrow(ModelDisposedError);
    expect(() => model.lossAndGradients([{ tokenized_text: ['a'], ner: [] }])).toThrow(/disposed/);
    model.dispose(); // twice is harmless
  });
});

describe('absurd predict options name the option', () => {
  let model: GLiNER;
  beforeAll(async () => {
    await initBackend('wasm');
    model = await GLiNER.fromPretrained(referenceModelDirs()[0]);
  });
  afterAll(() => model.dispose());

  test.each([
    ['threshold', NaN],
    ['threshold', Infinity],
    ['threshold', -0.1],
    ['threshold', '0.5'],
    ['batchSize', 0],
    ['batchSize', -3],
    ['batchSize', 1.5],
    ['batchSize', Infinity],
    ['batchSize', NaN],
    ['batchSize', '8'],
    ['maxLen', 0],
    ['maxLen', -1],
    ['maxLen', 2.5],
    ['windowOverlap', NaN],
    ['windowOverlap', -1],
    ['windowOverlap', 1e9],
    ['flatNer', 'yes'],
    ['multiLabel', 1],
    ['truncate', 'no'],
  ])('%s = %p is rejected naming the option', async (name, value) => {
    const before = tf.memory().numTensors;
    await expect(model.predictEntities('Alice moved to Paris.', ['person'], { [name]: value })).rejects.toThrow(new RegExp(`\\b${name}\\b`));
    expect(tf.memory().numTensors).toBe(before);
  });

  test('a huge batchSize is valid and means "everything in one pass": same entities as the default', async () => {
    const texts = ['Alice moved to Paris.', 'Bob lives in Oslo.', 'Carol met Dave.'];
    const a = await model.batchPredictEntities(texts, ['person', 'city'], { threshold: 0.3 });
    const b = await model.batchPredictEntities(texts, ['person', 'city'], { threshold: 0.3, batchSize: 1_000_000_000 });
    expect(b).toEqual(a);
  });
});
