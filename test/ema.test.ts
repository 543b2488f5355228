/**
 * EMA of the weights during training (ema_decay): the average equals its closed form, survives a
 * resume bit for bit, is saved beside the raw weights and evaluated on dev like them, and on the
 * synthetic learning task scores at least as well as the raw weights at the end.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { GLiNER } from '../src/gliner';
import { initBackend } from '../src/backend';
import { normalizeGlinerRecord } from '../src/training/data';
import { Trainer } from '../src/training/trainer';
import { TrainConfigInput } from '../src/training/train-config';
import { readEmaWeights } from '../src/training/checkpoint';
import { EMA_FILE } from '../src/training/ema';
import { evaluateExamples } from '../src/training/evaluate';
import { referenceModelDirs } from './helpers/reference';
import { SYNTHETIC_TRAINING_RECIPE, syntheticNer } from './helpers/synthetic-ner';

const FIXTURE = referenceModelDirs().find((d) => d.endsWith('tiny_buckets8')) ?? referenceModelDirs()[0];

let tmp: string;
let modelDir: string;
beforeAll(async () => {
  await initBackend('wasm');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-ema-'));
  modelDir = path.join(tmp, 'model');
  fs.mkdirSync(modelDir);
  for (const f of fs.readdirSync(FIXTURE)) if (!f.startsWith('expected_')) fs.copyFileSync(path.join(FIXTURE, f), path.join(modelDir, f));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const train = syntheticNer(24, 'train', 3).map((r) => normalizeGlinerRecord(r));
const base: TrainConfigInput = { numSteps: 4, trainBatchSize: 4, lrEncoder: 5e-3, lrOthers: 5e-3, evalEvery: 0, saveSteps: 0, seed: 9 };

const flat = (m: Map<string, { data: Float32Array | Int32Array | Uint8Array }>) => [...m].map(([k, v]) => [k, Float32Array.from(v.data)] as const);

test('EMA weights equal the closed form d^t w0 + (1-d) sum d^(t-k) w_k over 4 updates (and the decay warm-up rule)', async () => {
  const model = await GLiNER.fromPretrained(modelDir, { backend: 'wasm' });
  const d = 0.7;
  const history = [flat(model.model.exportWeights())];
  const trainer = new Trainer(model, train, {
    config: { ...base, emaDecay: d },
    onStep: () => {
      history.push(flat(model.model.exportWeights()));
    },
  });
  try {
    const before = tf.memory().numTensors;
    await trainer.train();
    const ema = new Map(flat(await trainer.ema!.exportWeights()));
    const t = history.length - 1;
    expect(t).toBe(4);
    expect(trainer.ema!.updates).toBe(4);
    let worst = 0;
    let moved = 0;
    for (const [name, w0] of history[0]) {
      const got = ema.get(name)!;
      for (let i = 0; i < w0.length; i++) {
        let expected = d ** t * w0[i];
        for (let k = 1; k <= t; k++) expected += (1 - d) * d ** (t - k) * history[k].find(([n]) => n === name)![1][i];
        worst = Math.max(worst, Math.abs(got[i] - expected));
        moved = Math.max(moved, Math.abs(got[i] - history[t].find(([n]) => n === name)![1][i]));
      }
    }
    console.log(`EMA closed form: max |ema - closed form| = ${worst.toExponential(2)} over ${history[0].length} tensors; max |ema - raw| = ${moved.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-6);
    expect(moved).toBeGreaterThan(1e-4); // the average really differs from the raw weights
    // exporting / swapping the average in and out leaks nothing
    expect(tf.memory().numTensors).toBe(before);
    // the raw weights are back in the model after every swap
    const raw = new Map(flat(model.model.exportWeights()));
    for (const [name, w] of history[t]) expect(raw.get(name)).toEqual(w);
  } finally {
    trainer.dispose();
    model.dispose();
  }
  const warm = new Trainer(await GLiNER.fromPretrained(modelDir, { backend: 'wasm' }), train, { config: { ...base, emaDecay: 0.999, emaWarmup: true } });
  expect([1, 2, 10, 1e6].map((s) => warm.ema!.decayAt(s))).toEqual([2 / 11, 3 / 12, 11 / 20, 0.999]);
  warm.dispose();
}, 300_000);

test('EMA survives a resume exactly: 2 + resume + 2 updates give the bit-identical average of 4 uninterrupted ones', async () => {
  const run = async (out: string, resumeFrom?: string, steps = 4) => {
    const model = await GLiNER.fromPretrained(modelDir, { backend: 'wasm' });
    const trainer = new Trainer(model, train, { config: { ...base, numSteps: 4, saveSteps: 2, emaDecay: 0.8 }, outputDir: out, sourceDir: modelDir, onStep: ({ step }) => {
      if (step >= steps) trainer.stop();
    } });
    try {
      if (resumeFrom) await trainer.resume(resumeFrom);
      return await trainer.train();
    } finally {
      trainer.dispose();
      model.dispose();
    }
  };
  const full = await run(path.join(tmp, 'full'));
  await run(path.join(tmp, 'split'), undefined, 2);
  const resumed = await run(path.join(tmp, 'split'), path.join(tmp, 'split', 'checkpoint-2'));
  expect(full.globalStep).toBe(4);
  expect(resumed.globalStep).toBe(4);
  const a = readEmaWeights(path.join(tmp, 'full', 'checkpoint-4'))!;
  const b = readEmaWeights(path.join(tmp, 'split', 'checkpoint-4'))!;
  expect(a.state).toEqual({ decay: 0.8, warmup: false, updates: 4 });
  expect(b.state).toEqual(a.state);
  expect(fs.readFileSync(path.join(tmp, 'split', 'checkpoint-4', EMA_FILE)).equals(fs.readFileSync(path.join(tmp, 'full', 'checkpoint-4', EMA_FILE)))).toBe(true);
  // and the average is saved as a loadable model folder at the end
  expect(full.finalEmaModelDir).toBe(path.join(tmp, 'full', 'final-ema'));
  const reloaded = await GLiNER.fromPretrained(full.finalEmaModelDir!, { backend: 'wasm' });
  try {
    for (const [name, w] of flat(reloaded.model.exportWeights())) expect(w).toEqual(Float32Array.from(a.weights.get(name)!.data));
  } finally {
    reloaded.dispose();
  }
}, 300_000);

test('on the synthetic learning task the EMA weights end at least as good as the raw ones (dev F1, evaluated like the raw)', async () => {
  const trainSet = syntheticNer(2000, 'train', 1).map((r) => normalizeGlinerRecord(r));
  const heldout = syntheticNer(120, 'heldout', 2).map((r) => normalizeGlinerRecord(r));
  const model = await GLiNER.fromPretrained(modelDir, { backend: 'wasm' });
  const curve: string[] = [];
  const trainer = new Trainer(model, trainSet, {
    config: { ...SYNTHETIC_TRAINING_RECIPE, numSteps: 250, evalEvery: 125, saveSteps: 0, seed: 1, emaDecay: 0.9, emaWarmup: true },
    evalExamples: heldout,
    metricsFile: path.join(tmp, 'learn-metrics.jsonl'),
    onEval: ({ step, metrics, emaMetrics }) => {
      curve.push(`${step}: raw ${metrics.f1.toFixed(3)} ema ${emaMetrics!.f1.toFixed(3)}`);
    },
  });
  try {
    const result = await trainer.train();
    const raw = result.lastEval!;
    const ema = result.lastEmaEval!;
    console.log(`EMA learning task (250 updates of 16, ema_decay 0.9 + warm-up): held-out F1 raw ${raw.f1.toFixed(4)} vs EMA ${ema.f1.toFixed(4)}; curve ${curve.join(', ')}`);
    expect(raw.f1).toBeGreaterThan(0.5); // it learnt something
    expect(ema.f1).toBeGreaterThanOrEqual(raw.f1);
    // the raw weights are what the model holds after the EMA evaluation
    expect((await evaluateExamples(model, heldout)).f1).toBe(raw.f1);
    const line = fs.readFileSync(path.join(tmp, 'learn-metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'eval').pop();
    expect(line.ema_eval_f1).toBe(ema.f1);
  } finally {
    trainer.dispose();
    model.dispose();
  }
}, 900_000);
