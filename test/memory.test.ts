/**
 * Out of memory: on the wasm backend an allocation that cannot be served is an OutOfMemoryError
 * (tfjs alone would hand out address 0 and corrupt the heap), the backend stays usable after it,
 * and a training step or a prediction that runs out says which batch and what to change.
 * The memory budget (GLINER_TF_MEMORY_LIMIT_MB) makes "too large" small enough to test quickly.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { GLiNER } from '../src/gliner';
import { OutOfMemoryError, WASM_HEAP_MAX_BYTES, isOutOfMemoryError, setMemoryLimitBytes } from '../src/kernels/wasm-memory';
import { Trainer, TrainingError } from '../src/training/trainer';
import { normalizeGlinerRecord } from '../src/training/data';
import { referenceModelDirs } from './helpers/reference';
import { syntheticNer } from './helpers/synthetic-ner';
import { runCli } from './helpers/cli';

jest.setTimeout(180_000);

const MODEL_DIR = referenceModelDirs().find((d) => d.endsWith('tiny_buckets8')) ?? referenceModelDirs()[0];
const MB = 1024 * 1024;

type WasmBackendLike = tf.KernelBackend & { makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo };

/** A float32 tensor of `bytes` bytes allocated on the wasm heap, never written (costs no RSS). */
function untouched(bytes: number): tf.Tensor {
  const be = tf.backend() as WasmBackendLike;
  return tf.engine().makeTensorFromTensorInfo(be.makeOutput([bytes / 4], 'float32'), be);
}

function expectMatMulWorks(): void {
  const r = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5], [6]])).dataSync());
  expect(Array.from(r)).toEqual([17, 39]);
}

beforeAll(async () => {
  await initBackend('wasm');
});
afterEach(() => setMemoryLimitBytes(null));

describe('wasm allocations', () => {
  test('a tensor of 4 GiB or more fails cleanly instead of wrapping around to a small block', () => {
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      untouched(4 * 1024 * MB);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OutOfMemoryError);
    expect((err as OutOfMemoryError).reason).toBe('heap');
    expect((err as Error).message).toMatch(/^out of memory: a 4096\.0 MiB tensor does not fit in the wasm backend's 4095\.9 MiB heap/);
    expect(tf.memory().numTensors).toBe(before);
    expectMatMulWorks();
  });

  test('filling the 4 GiB heap: the first allocation that cannot be served throws, the rest of the heap is intact', () => {
    const held: tf.Tensor[] = [];
    const marker = tf.tensor1d([1, 2, 3, 4]);
    let err: unknown;
    try {
      for (let i = 0; i < 16; i++) held.push(untouched(512 * MB));
    } catch (e) {
      err = e;
    }
    // 512 MiB blocks: at most 7 fit beside the backend's own data
    expect(held.length).toBeGreaterThanOrEqual(5);
    expect(held.length).toBeLessThan(8);
    expect(err).toBeInstanceOf(OutOfMemoryError);
    expect((err as OutOfMemoryError).limitBytes).toBe(WASM_HEAP_MAX_BYTES);
    expect((err as OutOfMemoryError).inUseBytes).toBeGreaterThanOrEqual(held.length * 512 * MB);
    expect(isOutOfMemoryError(err)).toBe(true);
    tf.dispose(held);
    expect(Array.from(marker.dataSync())).toEqual([1, 2, 3, 4]); // nothing was written over it
    marker.dispose();
    // the freed heap serves the same blocks again
    const again = untouched(512 * MB);
    again.dispose();
    expectMatMulWorks();
  });

  test('the memory budget: allocations past it fail, below it succeed', () => {
    setMemoryLimitBytes(tf.memory().numBytes + 4 * MB);
    const a = tf.zeros([MB / 4]); // 1 MiB: fits
    expect(() => tf.zeros([2 * MB])).toThrow(/out of memory: a 8\.0 MiB tensor does not fit in the memory limit of/);
    a.dispose();
    setMemoryLimitBytes(null);
    tf.zeros([2 * MB]).dispose();
  });

  test('isOutOfMemoryError knows the other backends\' messages', () => {
    expect(isOutOfMemoryError(new Error('OOM when allocating tensor with shape[8,12,512,512]'))).toBe(true);
    expect(isOutOfMemoryError(new RangeError('Array buffer allocation failed'))).toBe(true);
    expect(isOutOfMemoryError(new Error('shapes do not match'))).toBe(false);
  });
});

describe('out of memory in training and prediction', () => {
  test('a training step over the budget: TrainingError with the batch and the advice; the trainer and tensors recover', async () => {
    const g = await GLiNER.fromPretrained(MODEL_DIR, { backend: 'wasm' });
    const examples = syntheticNer(16, 'train', 2).map((r) => normalizeGlinerRecord(r));
    const trainer = new Trainer(g, examples, { config: { numSteps: 2, trainBatchSize: 8, saveSteps: 0 } });
    try {
      const baseline = tf.memory().numTensors;
      setMemoryLimitBytes(tf.memory().numBytes + 256 * 1024);
      let err: unknown;
      try {
        await trainer.train();
      } catch (e) {
        err = e;
      }
      setMemoryLimitBytes(null);
      expect(err).toBeInstanceOf(TrainingError);
      const msg = (err as Error).message;
      expect(msg).toMatch(/^out of memory in training step 1 \(a batch of 8 examples, up to \d+ words and \d+ entity types, \d+ spans\): out of memory: a [\d.]+ MiB tensor does not fit in the memory limit/);
      expect(msg).toContain('--batch-size 4 --grad-accum 2');
      expect(msg).toContain('@tensorflow/tfjs-node');
      expect(msg).toContain('--resume auto');
      expect(tf.memory().numTensors).toBe(baseline);
      // prediction still works and leaves nothing behind
      const ents = await g.predictEntities('Alice Smith moved to Paris.', ['person', 'city'], { threshold: 0.01 });
      expect(ents.length).toBeGreaterThan(0);
      expect(tf.memory().numTensors).toBe(baseline);
    } finally {
      trainer.dispose();
      g.dispose();
    }
  });

  test('prediction over the budget names the batch and the batchSize option', async () => {
    const g = await GLiNER.fromPretrained(MODEL_DIR, { backend: 'wasm' });
    try {
      const baseline = tf.memory().numTensors;
      setMemoryLimitBytes(tf.memory().numBytes + 64 * 1024);
      const texts = Array.from({ length: 8 }, (_, i) => `Text ${i}: ${'Alice Smith moved to Paris in May. '.repeat(4)}`);
      await expect(g.batchPredictEntities(texts, ['person', 'city', 'date'])).rejects.toThrow(
        /^out of memory predicting a batch of 8 text windows \(up to \d+ words, 3 labels\): .*Lower the batchSize option \(now 8; --batch-size on the command line\)/,
      );
      setMemoryLimitBytes(null);
      expect(tf.memory().numTensors).toBe(baseline);
      expect((await g.batchPredictEntities(texts, ['person'])).length).toBe(8);
    } finally {
      g.dispose();
    }
  });

  test('gliner-tf train with GLINER_TF_MEMORY_LIMIT_MB too small: exit 1, the advice on stderr, nothing half-written', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-oom-'));
    try {
      const data = path.join(tmp, 'train.jsonl');
      fs.writeFileSync(data, syntheticNer(16, 'train', 4).map((r) => JSON.stringify(r)).join('\n') + '\n');
      const out = path.join(tmp, 'out');
      const r = runCli(
        ['train', '--model', MODEL_DIR, '--data', data, '--output', out, '--steps', '2', '--batch-size', '16', '--quiet', '--backend', 'wasm'],
        { env: { GLINER_TF_MEMORY_LIMIT_MB: '1.5' } },
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/out of memory in training step 1 \(a batch of 16 examples/);
      expect(r.stderr).toContain('--batch-size 8 --grad-accum 2');
      expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
      expect(fs.existsSync(out) ? fs.readdirSync(out).filter((n) => n.startsWith('checkpoint-')) : []).toEqual([]);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
