/**
 * Training machinery: AdamW against a hand-computed torch.optim.AdamW sequence, schedules,
 * clipping, gradient accumulation, parameter groups, the config file, the Trainer (leaks,
 * checkpoints, NaN handling, best/rotation), building a model from a bare encoder, the CLI and
 * the example script, and a SIGKILL during a checkpoint save.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { GLiNER } from '../src/gliner';
import { initBackend } from '../src/backend';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { TensorMap } from '../src/io/host-tensor';
import { normalizeGlinerRecord, prepareSpanBatch, TrainingExample } from '../src/training/data';
import { lossAndGrads } from '../src/training/step';
import { AdamW, GradAccumulator, buildParamGroups, clipGradNorm, disposeGrads } from '../src/training/optimizer';
import { LrSchedule, resolveWarmupSteps } from '../src/training/schedule';
import { TrainConfigError, parseTrainConfig, resolveTrainConfig, trainConfigToJson } from '../src/training/train-config';
import { Trainer, TrainingError } from '../src/training/trainer';
import { cleanStaleTemp, listCheckpoints, readTrainerState } from '../src/training/checkpoint';
import { createFreshModel, writeFreshModel } from '../src/training/fresh-model';
import { evaluateExamples, scoreSpans } from '../src/training/evaluate';
import { referenceModelDirs } from './helpers/reference';
import { syntheticNer } from './helpers/synthetic-ner';
import { cliInProcess, runCli, runTs } from './helpers/cli';

const ROOT = path.join(__dirname, '..');
const MODEL_DIR = referenceModelDirs().find((d) => d.endsWith('tiny_buckets8')) ?? referenceModelDirs()[0];

function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `gliner-${tag}-`));
}

function examples(n: number, seed = 1): TrainingExample[] {
  return syntheticNer(n, 'train', seed).map((r) => normalizeGlinerRecord(r));
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe('LR schedules (transformers semantics)', () => {
  test('linear, cosine and constant with warm-up at key steps', () => {
    const lin = new LrSchedule({ type: 'linear', totalSteps: 10, warmupSteps: 2 });
    expect([0, 1, 2, 6, 9, 10].map((s) => lin.factor(s))).toEqual([0, 0.5, 1, 0.5, 0.125, 0]);
    const cos = new LrSchedule({ type: 'cosine', totalSteps: 10, warmupSteps: 2 });
    expect(cos.factor(0)).toBe(0);
    expect(cos.factor(1)).toBe(0.5);
    expect(cos.factor(2)).toBeCloseTo(1, 12);
    expect(cos.factor(6)).toBeCloseTo(0.5, 12); // half-way through the decay
    expect(cos.factor(4)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI * 0.25)), 12);
    expect(cos.factor(10)).toBeCloseTo(0, 12);
    const cw = new LrSchedule({ type: 'constant_with_warmup', totalSteps: 10, warmupSteps: 4 });
    expect([0, 2, 4, 9].map((s) => cw.factor(s))).toEqual([0, 0.5, 1, 1]);
    // HF's "constant" ignores the warm-up.
    expect(new LrSchedule({ type: 'constant', totalSteps: 10, warmupSteps: 4 }).factor(0)).toBe(1);
    // no warm-up: the first update already uses the full rate
    expect(new LrSchedule({ type: 'linear', totalSteps: 4, warmupSteps: 0 }).factor(0)).toBe(1);
  });

  test('warm-up steps: explicit count wins, else ceil(total * ratio)', () => {
    expect(resolveWarmupSteps(100, 0.05)).toBe(5);
    expect(resolveWarmupSteps(10, 0.05)).toBe(1);
    expect(resolveWarmupSteps(100, 0.1, 7)).toBe(7);
    expect(() => resolveWarmupSteps(10, 1.5)).toThrow(/warmup_ratio/);
  });
});

describe('AdamW (torch.optim.AdamW semantics)', () => {
  // Expected values: torch's update written out in double precision (see optimizer.ts):
  // decay p *= 1 - lr*wd, m = lerp(m, g, 0.1), v = 0.999 v + 0.001 g^2, p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
  // Step 1 by hand: 1 * (1 - 0.1 * 0.01) - 0.1 * 0.5 / (0.5 + 1e-8) = 0.899000002.
  const grads = [
    [0.5, -0.1, 0.0],
    [-0.25, 0.3, 1.0],
    [0.1, 0.1, -2.0],
  ];
  const withDecay = [
    [0.899000002, -1.898000009999999, 0.4995],
    [0.8714672987058463, -1.9455209911100655, 0.42458681869540704],
    [0.8390714757250103, -1.99926747681418, 0.45559084858275856],
  ];
  const noDecayScheduled = [
    [0.900000002, -1.900000009999999, 0.5],
    [0.8866831503539232, -1.924709500560032, 0.46279315934770354],
    [0.8788020614333907, -1.9386325022338382, 0.47065031352421527],
  ];

  test('three steps match the hand-computed sequence, per group (decay / no decay + schedule)', () => {
    const a = tf.variable(tf.tensor1d([1, -2, 0.5]));
    const b = tf.variable(tf.tensor1d([1, -2, 0.5]));
    const opt = new AdamW(
      new Map([
        ['a', a],
        ['b', b],
      ]),
      [
        { name: 'decay', lr: 0.1, weightDecay: 0.01, params: ['a'] },
        { name: 'no_decay', lr: 0.1, weightDecay: 0, params: ['b'] },
      ],
    );
    const factors = [1, 0.5, 0.25];
    const before = tf.memory().numTensors;
    for (let t = 0; t < 3; t++) {
      // two calls per step: 'a' at the full rate, 'b' at the schedule's factor (a call skips
      // parameters it has no gradient for)
      const g = tf.tensor1d(grads[t]);
      opt.step(new Map([['a', g]]), 1);
      opt.step(new Map([['b', g]]), factors[t]);
      g.dispose();
      const av = a.dataSync();
      const bv = b.dataSync();
      for (let i = 0; i < 3; i++) {
        expect(av[i]).toBeCloseTo(withDecay[t][i], 6);
        expect(bv[i]).toBeCloseTo(noDecayScheduled[t][i], 6);
      }
    }
    expect(tf.memory().numTensors).toBe(before);
    // state round trip
    const { tensors, meta } = opt.state();
    expect(meta.steps).toEqual({ a: 3, b: 3 });
    const opt2 = new AdamW(new Map([['a', a], ['b', b]]), opt.groups);
    opt2.loadState(tensors, meta);
    expect(Array.from(opt2.state().tensors.get('a.exp_avg_sq')!.data)).toEqual(Array.from(tensors.get('a.exp_avg_sq')!.data));
    opt.dispose();
    opt2.dispose();
    a.dispose();
    b.dispose();
  });

  test('a parameter without a gradient is not touched (no decay, no step)', () => {
    const a = tf.variable(tf.tensor1d([1, 2]));
    const opt = new AdamW(new Map([['a', a]]), [{ name: 'g', lr: 0.1, weightDecay: 0.5, params: ['a'] }]);
    opt.step(new Map(), 1);
    expect(Array.from(a.dataSync())).toEqual([1, 2]);
    expect(opt.state().meta.steps.a).toBe(0);
    opt.dispose();
    a.dispose();
  });
});

describe('gradient clipping and accumulation', () => {
  test('clip_grad_norm_: global norm over all tensors, coefficient max/(norm+1e-6) capped at 1', () => {
    const make = () =>
      new Map<string, tf.Tensor>([
        ['x', tf.tensor1d([3, 0])],
        ['y', tf.tensor2d([[0, 4]])],
      ]);
    const before = tf.memory().numTensors;
    const grads = make();
    expect(clipGradNorm(grads, 1)).toBeCloseTo(5, 5);
    expect(grads.get('x')!.dataSync()[0]).toBeCloseTo(3 / (5 + 1e-6), 6);
    expect(grads.get('y')!.dataSync()[1]).toBeCloseTo(4 / (5 + 1e-6), 6);
    disposeGrads(grads);
    const loose = make();
    expect(clipGradNorm(loose, 10)).toBeCloseTo(5, 5);
    expect(Array.from(loose.get('x')!.dataSync())).toEqual([3, 0]);
    disposeGrads(loose);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('2 accumulated batches of 4 = the gradient of one batch of 8 (dropout 0, sum), up to the 1/2 upstream applies', async () => {
    const model = await GLiNER.fromPretrained(MODEL_DIR, { backend: 'wasm' });
    try {
      const ex = examples(8, 5);
      const labels = ['person', 'city', 'organization', 'date'];
      const opts = { maxLen: model.config.maxLen, maxWidth: model.config.maxWidth };
      const ctx = { model: model.model, tokenizer: model.tokenizer, classTokenId: model.config.classTokenIndex };
      const loss = { alpha: -1, gamma: 0, labelSmoothing: 0, reduction: 'sum' as const };
      const full = lossAndGrads(ctx, prepareSpanBatch(ex, ex.map(() => labels), opts), loss, true);
      const acc = new GradAccumulator();
      let accLoss = 0;
      for (const part of [ex.slice(0, 4), ex.slice(4)]) {
        const r = lossAndGrads(ctx, prepareSpanBatch(part, part.map(() => labels), opts), loss, true);
        accLoss += r.loss.dataSync()[0];
        acc.add(r.grads, 1 / 2); // upstream: loss / gradient_accumulation_steps before backward
        r.loss.dispose();
        disposeGrads(r.grads);
      }
      const summed = acc.take();
      expect(accLoss).toBeCloseTo(full.loss.dataSync()[0], 2);
      let worst = 0;
      let scale = 0;
      for (const [name, g] of full.grads) {
        const a = summed.get(name)!.dataSync();
        const b = g.dataSync();
        for (let i = 0; i < b.length; i++) {
          worst = Math.max(worst, Math.abs(2 * a[i] - b[i]));
          scale = Math.max(scale, Math.abs(b[i]));
        }
      }
      expect(worst / scale).toBeLessThan(1e-4);
      full.loss.dispose();
      disposeGrads(full.grads);
      disposeGrads(summed);
    } finally {
      model.dispose();
    }
  });
});

describe('parameter groups (upstream create_optimizer)', () => {
  test('encoder = token_rep_layer (incl. projection); no decay for biases and LayerNorm', async () => {
    const model = await GLiNER.fromPretrained(MODEL_DIR, { backend: 'wasm' });
    try {
      const groups = buildParamGroups(model.model, { lrEncoder: 1, lrOthers: 2, weightDecayEncoder: 0.1, weightDecayOther: 0.01 });
      const byName = new Map(groups.flatMap((g) => g.params.map((p) => [p, g] as const)));
      const g = (n: string) => byName.get(n)!;
      expect(groups.map((x) => x.name)).toEqual(['others', 'others_no_decay', 'encoder', 'encoder_no_decay']);
      expect(g('token_rep_layer.projection.weight')).toMatchObject({ name: 'encoder', lr: 1, weightDecay: 0.1 });
      expect(g('token_rep_layer.projection.bias').name).toBe('encoder_no_decay');
      expect(g('token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight').name).toBe('encoder');
      expect(g('token_rep_layer.bert_layer.model.embeddings.LayerNorm.weight').name).toBe('encoder_no_decay');
      expect(g('token_rep_layer.bert_layer.model.encoder.LayerNorm.weight').name).toBe('encoder_no_decay');
      expect(g('token_rep_layer.bert_layer.model.encoder.rel_embeddings.weight').name).toBe('encoder');
      expect(g('rnn.lstm.weight_ih_l0')).toMatchObject({ name: 'others', lr: 2, weightDecay: 0.01 });
      expect(g('rnn.lstm.bias_hh_l0_reverse').name).toBe('others_no_decay');
      expect(g('prompt_rep_layer.0.weight').name).toBe('others');
      expect(byName.size).toBe(model.model.namedParameters().length);
      const frozen = new Set(model.model.namedParameters().map(([n]) => n).filter((n) => n.includes('token_rep_layer')));
      const headOnly = buildParamGroups(model.model, { lrEncoder: 1, lrOthers: 2, weightDecayEncoder: 0, weightDecayOther: 0, frozen });
      expect(headOnly.map((x) => x.name)).toEqual(['others', 'others_no_decay']);
    } finally {
      model.dispose();
    }
  });
});

describe('training config file', () => {
  test('upstream keys, sections, string numbers, warmup_steps < 1 as a ratio; flags override the file', () => {
    const file = parseTrainConfig({
      model: { model_name: 'microsoft/deberta-v3-small', hidden_size: 768 },
      data: { train_data: 'data.json', val_data_dir: 'none' },
      training: { num_steps: 100, lr_encoder: '1e-5', warmup_steps: 0.05, scheduler_type: 'linear', freeze_components: null, negatives: 1.0, masking: 'none' },
    });
    expect(file).toMatchObject({ numSteps: 100, lrEncoder: 1e-5, warmupRatio: 0.05, schedulerType: 'linear', trainData: 'data.json', valData: null });
    expect(file.model).toEqual({ model_name: 'microsoft/deberta-v3-small', hidden_size: 768 });
    const cfg = resolveTrainConfig(file, { lrEncoder: 2e-5, trainBatchSize: 4 });
    expect(cfg.lrEncoder).toBe(2e-5);
    expect(cfg.trainBatchSize).toBe(4);
    expect(cfg.lrOthers).toBe(3e-5); // upstream config.yaml default
    expect(cfg.maxGradNorm).toBe(1);
    // round trip through upstream key names
    expect(resolveTrainConfig(parseTrainConfig(trainConfigToJson(cfg)))).toEqual(cfg);
  });

  test('unknown keys and bad values are errors naming the key, with a suggestion', () => {
    expect(() => parseTrainConfig({ lr_encodr: 1e-5 }, 'train.json')).toThrow("train.json: unknown key 'lr_encodr' (did you mean 'lr_encoder'?)");
    expect(() => parseTrainConfig({ training: { warmup_ration: 0.1 } }, 'c.json')).toThrow("unknown key 'training.warmup_ration' (did you mean 'warmup_ratio'?)");
    expect(() => parseTrainConfig({ completely_unrelated: 1 })).toThrow(/unknown key 'completely_unrelated'$/);
    expect(() => parseTrainConfig({ train_batch_size: 0 })).toThrow(/'train_batch_size' must be >= 1/);
    expect(() => parseTrainConfig({ scheduler_type: 'step' })).toThrow(/'scheduler_type' must be one of/);
    expect(() => parseTrainConfig({ negatives: 0.5 })).toThrow(/not supported/);
    expect(() => parseTrainConfig({ lr_encoder: 1, learning_rate: 2 })).toThrow(/same option/);
    expect(() => resolveTrainConfig({})).toThrow(TrainConfigError);
  });
});

describe('evaluation metrics', () => {
  test('micro and per-label P/R/F1 on exact (start, end, label) matches', () => {
    const gold = [[{ start: 0, end: 1, label: 'person' }, { start: 3, end: 3, label: 'city' }], [{ start: 2, end: 2, label: 'date' }]];
    const pred = [[{ start: 0, end: 1, label: 'person' }, { start: 3, end: 3, label: 'person' }], [{ start: 2, end: 3, label: 'date' }]];
    const m = scoreSpans(gold, pred, ['person', 'city', 'date']);
    expect(m).toMatchObject({ tp: 1, fp: 2, fn: 2 });
    expect(m.precision).toBeCloseTo(1 / 3, 12);
    expect(m.recall).toBeCloseTo(1 / 3, 12);
    expect(m.perLabel.person).toMatchObject({ tp: 1, fp: 1, fn: 0, precision: 0.5, recall: 1 });
    expect(m.perLabel.city).toMatchObject({ tp: 0, fp: 0, fn: 1, f1: 0 });
  });
});

describe('Trainer', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = tmpDir('trainer');
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('no tensor leaks across steps; freeze_token_rep leaves the encoder untouched', async () => {
    const model = await GLiNER.fromPretrained(MODEL_DIR, { backend: 'wasm' });
    const enc = 'token_rep_layer.bert_layer.model.encoder.layer.0.attention.self.query_proj.weight';
    const head = 'prompt_rep_layer.0.weight';
    const before = model.model.exportWeights();
    const counts: number[] = [];
    const trainer = new Trainer(model, examples(24), {
      config: { numSteps: 5, trainBatchSize: 4, freezeTokenRep: true, lrOthers: 1e-3, warmupRatio: 0 },
      onStep: () => {
        counts.push(tf.memory().numTensors);
      },
    });
    try {
      const r = await trainer.train();
      expect(r.globalStep).toBe(5);
      expect(r.losses.every((l) => Number.isFinite(l.loss))).toBe(true);
      expect(new Set(counts).size).toBe(1);
      const after = model.model.exportWeights();
      expect(Array.from(after.get(enc)!.data)).toEqual(Array.from(before.get(enc)!.data));
      expect(Array.from(after.get('token_rep_layer.projection.weight')!.data)).toEqual(Array.from(before.get('token_rep_layer.projection.weight')!.data));
      expect(Array.from(after.get(head)!.data)).not.toEqual(Array.from(before.get(head)!.data));
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  test('checkpoints: upstream layout and keys, reload with identical predictions, rotation keeps the best', async () => {
    const model = await GLiNER.fromPretrained(MODEL_DIR, { backend: 'wasm' });
    const out = path.join(tmp, 'ckpt');
    const dev = examples(6, 9);
    const f1s: number[] = [];
    const trainer = new Trainer(model, examples(16), {
      config: { numSteps: 4, trainBatchSize: 4, evalEvery: 1, saveTotalLimit: 2, lrEncoder: 1e-3, lrOthers: 1e-3, loggingSteps: 2 },
      evalExamples: dev,
      outputDir: out,
      sourceDir: MODEL_DIR,
      onEval: ({ metrics }) => {
        f1s.push(metrics.f1);
      },
    });
    try {
      const r = await trainer.train();
      expect(f1s.length).toBe(4);
      const ckpts = listCheckpoints(out).map((c) => c.step);
      // at most two: the newest and the best (HF semantics), or the two newest when the newest is the best
      const best = r.bestStep!;
      expect(ckpts).toEqual(best === 4 ? [3, 4] : [best, 4]);
      const last = path.join(out, 'checkpoint-4');
      for (const f of ['gliner_config.json', 'model.safetensors', 'spm.model', 'added_tokens.json', 'tokenizer_config.json', 'special_tokens_map.json', 'optimizer.safetensors', 'trainer_state.json']) {
        expect(fs.existsSync(path.join(last, f))).toBe(true);
      }
      expect(fs.readdirSync(out).filter((n) => n.includes('.tmp-'))).toEqual([]);
      const state = readTrainerState(last);
      expect(state.global_step).toBe(4);
      expect(state.best_step).toBe(best);
      expect(state.train_config.num_steps).toBe(4);
      // safetensors: same keys, shapes and dtype as the reference checkpoint
      const ref = readSafetensors(fs.readFileSync(path.join(MODEL_DIR, 'model.safetensors'))).tensors;
      const saved = readSafetensors(fs.readFileSync(path.join(last, 'model.safetensors'))).tensors;
      expect([...saved.keys()].sort()).toEqual([...ref.keys()].sort());
      for (const [k, t] of ref) expect([saved.get(k)!.dtype, saved.get(k)!.shape]).toEqual([t.dtype, t.shape]);
      const cfg = JSON.parse(fs.readFileSync(path.join(last, 'gliner_config.json'), 'utf8'));
      expect(cfg.class_token_index).toBe(702);
      // the final model and a checkpoint load back and predict exactly as the trained model
      const text = 'Clara Weber moved to Lisbon on 4 May 2020 to join Orion Labs .';
      const labels = ['person', 'city', 'date', 'organization'];
      const want = await model.predictEntities(text, labels, { threshold: 0.01 });
      for (const dir of [last, r.finalModelDir!]) {
        const reloaded = await GLiNER.fromPretrained(dir, { backend: 'wasm' });
        expect(await reloaded.predictEntities(text, labels, { threshold: 0.01 })).toEqual(want);
        reloaded.dispose();
      }
      const metrics = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(metrics.filter((m) => m.type === 'train').map((m) => m.step)).toEqual([2, 4]);
      expect(metrics.filter((m) => m.type === 'eval').length).toBe(4);
      const firstTrain = metrics.find((m) => m.type === 'train');
      expect(Object.keys(firstTrain.learning_rate).sort()).toEqual(['encoder', 'others']);
      expect(firstTrain.loss).toBeGreaterThan(0);
      expect(firstTrain.examples_per_second).toBeGreaterThan(0);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  test('NaN loss: stop names the step and batch; skip drops the batch and goes on', async () => {
    const model = await GLiNER.fromPretrained(MODEL_DIR, { backend: 'wasm' });
    try {
      const bias = model.model.namedParameters().find(([n]) => n === 'prompt_rep_layer.3.bias')![1].variable;
      bias.assign(tf.fill(bias.shape, NaN));
      const stop = new Trainer(model, examples(8), { config: { numSteps: 2, trainBatchSize: 4 } });
      await expect(stop.train()).rejects.toThrow(/non-finite training value at step 1 \(loss is NaN; epoch 0 batch 0: examples \d+/);
      stop.dispose();
      const warnings: string[] = [];
      const skip = new Trainer(model, examples(8), { config: { numSteps: 2, trainBatchSize: 4, onNan: 'skip' }, onWarning: (m) => warnings.push(m) });
      const r = await skip.train();
      expect(r.skippedBatches).toBe(2);
      expect(r.globalStep).toBe(2);
      expect(warnings[0]).toMatch(/step 1 .*skipped/);
      skip.dispose();
      expect(() => new Trainer(model, [], { config: { numSteps: 1 } })).toThrow(TrainingError);
    } finally {
      model.dispose();
    }
  });
});

/** A bare DeBERTa encoder folder made from a fixture's encoder (701 rows: no GLiNER tokens). */
function makeBareEncoder(dir: string): TensorMap {
  fs.mkdirSync(dir, { recursive: true });
  const ref = readSafetensors(fs.readFileSync(path.join(MODEL_DIR, 'model.safetensors'))).tensors;
  const prefix = 'token_rep_layer.bert_layer.model.';
  const enc: TensorMap = new Map();
  for (const [k, t] of ref) {
    if (!k.startsWith(prefix)) continue;
    let v = t;
    if (k.endsWith('word_embeddings.weight')) v = { ...t, shape: [701, t.shape[1]], data: (t.data as Float32Array).slice(0, 701 * t.shape[1]) };
    enc.set(`deberta.${k.slice(prefix.length)}`, v);
  }
  enc.set('lm_predictions.lm_head.bias', { dtype: 'F32', shape: [701], data: new Float32Array(701) });
  fs.writeFileSync(path.join(dir, 'model.safetensors'), writeSafetensors(enc));
  const config = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, vocab_size: 701 }));
  fs.copyFileSync(path.join(MODEL_DIR, 'spm.model'), path.join(dir, 'spm.model'));
  fs.copyFileSync(path.join(MODEL_DIR, 'special_tokens_map.json'), path.join(dir, 'special_tokens_map.json'));
  const tc = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'tokenizer_config.json'), 'utf8'));
  tc.added_tokens_decoder = Object.fromEntries(Object.entries(tc.added_tokens_decoder).filter(([id]) => Number(id) <= 700));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tc));
  fs.writeFileSync(path.join(dir, 'added_tokens.json'), JSON.stringify({ '[MASK]': 700 }));
  return ref;
}

describe('a new GLiNER from a bare encoder', () => {
  test('tokens added, embeddings resized with mean init, head initialised from the seed, trainable and saveable', async () => {
    const tmp = tmpDir('fresh');
    try {
      const enc = path.join(tmp, 'encoder');
      const ref = makeBareEncoder(enc);
      const fresh = await createFreshModel(enc, { hiddenSize: 24, maxWidth: 4, dropout: 0.1, maxLen: 40, seed: 7, backend: 'wasm' });
      const g = fresh.gliner;
      expect(fresh.addedTokens).toEqual(['[FLERT]', '<<ENT>>', '<<SEP>>']);
      expect(fresh.vocab).toEqual({ from: 701, to: 704 });
      expect(g.config.classTokenIndex).toBe(702);
      expect(g.tokenizer.tokenToId('<<SEP>>')).toBe(703);
      expect(fresh.unusedKeys).toEqual(['lm_predictions.lm_head.bias']);
      const w = g.model.exportWeights();
      const word = w.get('token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight')!;
      const refWord = ref.get('token_rep_layer.bert_layer.model.embeddings.word_embeddings.weight')!.data as Float32Array;
      expect(word.shape).toEqual([704, 32]);
      expect(Array.from(word.data.subarray(0, 701 * 32))).toEqual(Array.from(refWord.subarray(0, 701 * 32)));
      // new rows: the old mean plus noise of covariance 1e-9 * cov (tiny)
      for (let j = 0; j < 32; j++) {
        let mean = 0;
        for (let r = 0; r < 701; r++) mean += refWord[r * 32 + j] / 701;
        expect(Math.abs(word.data[702 * 32 + j] - mean)).toBeLessThan(1e-3);
      }
      const projW = w.get('token_rep_layer.projection.weight')!.data as Float32Array;
      expect(Math.max(...Array.from(projW, Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(32));
      const lstm = w.get('rnn.lstm.weight_hh_l0')!.data as Float32Array;
      expect(Math.max(...Array.from(lstm, Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(12));
      expect(Math.max(...Array.from(lstm, Math.abs))).toBeGreaterThan(0.5 / Math.sqrt(12));
      // same seed, same model
      const again = await createFreshModel(enc, { hiddenSize: 24, maxWidth: 4, dropout: 0.1, maxLen: 40, seed: 7, backend: 'wasm' });
      expect(Array.from(again.gliner.model.exportWeights().get('prompt_rep_layer.3.weight')!.data)).toEqual(Array.from(w.get('prompt_rep_layer.3.weight')!.data));
      again.gliner.dispose();
      // trains and saves a folder that loads back
      const out = path.join(tmp, 'run');
      const trainer = new Trainer(g, examples(8), { config: { numSteps: 2, trainBatchSize: 4 }, outputDir: out, tokenizerFiles: fresh.tokenizerFiles });
      const r = await trainer.train();
      trainer.dispose();
      const reloaded = await GLiNER.fromPretrained(r.finalModelDir!, { backend: 'wasm' });
      expect(reloaded.config.classTokenIndex).toBe(702);
      expect(reloaded.tokenizer.tokenToId('[FLERT]')).toBe(701);
      const text = 'Hugo Berg visited Oslo .';
      expect(await reloaded.predictEntities(text, ['person'], { threshold: 0 })).toEqual(await g.predictEntities(text, ['person'], { threshold: 0 }));
      reloaded.dispose();
      // written directly as a folder
      const folder = await writeFreshModel(enc, path.join(tmp, 'fresh-folder'), { hiddenSize: 24, maxWidth: 4, seed: 7, backend: 'wasm' });
      folder.gliner.dispose();
      const tcfg = JSON.parse(fs.readFileSync(path.join(tmp, 'fresh-folder', 'tokenizer_config.json'), 'utf8'));
      expect(tcfg.added_tokens_decoder['702'].content).toBe('<<ENT>>');
      expect(JSON.parse(fs.readFileSync(path.join(tmp, 'fresh-folder', 'added_tokens.json'), 'utf8'))).toEqual({ '[MASK]': 700, '[FLERT]': 701, '<<ENT>>': 702, '<<SEP>>': 703 });
      g.dispose();
      // the same from the command line, head shape from the config file's model section
      const data = path.join(tmp, 'train.jsonl');
      fs.writeFileSync(data, syntheticNer(4, 'train', 2).map((r) => JSON.stringify(r)).join('\n'));
      const cfgFile = path.join(tmp, 'cfg.json');
      fs.writeFileSync(cfgFile, JSON.stringify({ model: { hidden_size: 16, max_width: 3, dropout: 0.2 }, training: { num_steps: 1, train_batch_size: 4, max_len: 30 } }));
      const cliOut = path.join(tmp, 'cli-run');
      const r2 = await cliInProcess(['train', '--from-encoder', enc, '--config', cfgFile, '--data', data, '--output', cliOut, '--quiet', '--json']);
      expect(r2.stderr).toBe('');
      expect(r2.code).toBe(0);
      const saved = JSON.parse(fs.readFileSync(path.join(cliOut, 'final', 'gliner_config.json'), 'utf8'));
      expect(saved).toMatchObject({ hidden_size: 16, max_width: 3, dropout: 0.2, max_len: 30, class_token_index: 702, vocab_size: 704 });
      expect(saved.encoder_config.vocab_size).toBe(704);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('command line and example', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = tmpDir('cli');
    const write = (name: string, recs: unknown[]) => fs.writeFileSync(path.join(tmp, name), recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
    write('train.jsonl', syntheticNer(12, 'train', 3));
    write('dev.jsonl', syntheticNer(4, 'heldout', 4));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('help, usage errors (exit 2) and config errors naming the key', async () => {
    const h = await cliInProcess(['train', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/--resume DIR\|auto/);
    expect((await cliInProcess(['eval', '--help'])).stdout).toMatch(/--threshold X/);
    expect((await cliInProcess(['--help'])).stdout).toMatch(/train .*\n.*eval /);
    const bad = await cliInProcess(['train', '--data', 'x.json', '--output', tmp, '--model', MODEL_DIR, '--stepz', '3']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/stepz/);
    fs.writeFileSync(path.join(tmp, 'bad.json'), JSON.stringify({ lr_other: 1e-4 }));
    const badCfg = await cliInProcess(['train', '--config', path.join(tmp, 'bad.json'), '--data', 'x', '--output', tmp, '--model', MODEL_DIR]);
    expect(badCfg.code).toBe(2);
    expect(badCfg.stderr).toMatch(/unknown key 'lr_other' \(did you mean 'lr_others'\?\)/);
    const missing = await cliInProcess(['train', '--output', tmp, '--model', MODEL_DIR, '--steps', '1']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--data is required/);
    const noFile = await cliInProcess(['eval', '--model', MODEL_DIR, '--data', path.join(tmp, 'nope.jsonl')]);
    expect(noFile.code).toBe(1);
    expect(noFile.stderr).toMatch(/nope.jsonl: no such file/);
  });

  test('train as a user runs it (config file + flags, eval, checkpoints), then resume auto and eval --json', async () => {
    const cfgFile = path.join(tmp, 'train.json');
    fs.writeFileSync(cfgFile, JSON.stringify({ training: { num_steps: 3, train_batch_size: 4, lr_encoder: 1e-3, lr_others: 1e-3, eval_every: 2 } }));
    const out = path.join(tmp, 'run');
    const args = ['train', '--config', cfgFile, '--data', path.join(tmp, 'train.jsonl'), '--eval-data', path.join(tmp, 'dev.jsonl'), '--model', MODEL_DIR, '--output', out];
    const r = runCli([...args, '--steps', '2', '--quiet', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ steps: 2, total_steps: 2, stopped: false });
    expect(summary.eval.f1).toBeGreaterThanOrEqual(0);
    expect(fs.existsSync(path.join(out, 'checkpoint-2', 'optimizer.safetensors'))).toBe(true);
    // continue the same run to the 3 steps of the config file
    const again = await cliInProcess([...args, '--resume', 'auto', '--quiet', '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ steps: 3, total_steps: 3 });
    expect(again.stderr).toMatch(/num_steps: 2 -> 3/); // warned: the schedule differs from the first run's
    const ev = await cliInProcess(['eval', '--model', path.join(out, 'final'), '--data', path.join(tmp, 'dev.jsonl'), '--json']);
    expect(ev.code).toBe(0);
    const m = JSON.parse(ev.stdout);
    expect(m.examples).toBe(4);
    expect(m.tp + m.fn).toBe(syntheticNer(4, 'heldout', 4).reduce((a, e) => a + e.ner.length, 0));
    const table = await cliInProcess(['eval', '--model', path.join(out, 'final'), '--data', path.join(tmp, 'dev.jsonl'), '--threshold', '0.3']);
    expect(table.stdout).toMatch(/threshold 0.3\nlabel +P +R +F1 +support\n/);
    expect(table.stdout).toMatch(/\nmicro /);
  });

  test('examples/fine-tune.ts runs end to end on a tiny dataset', () => {
    const out = path.join(tmp, 'example');
    const r = runTs([path.join(ROOT, 'examples', 'fine-tune.ts'), '--model', MODEL_DIR, '--train', path.join(tmp, 'train.jsonl'), '--dev', path.join(tmp, 'dev.jsonl'), '--output', out, '--steps', '2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/F1 before: P [\d.]+% R [\d.]+% F1 [\d.]+%\n/);
    expect(r.stdout).toMatch(/F1 after: /);
    expect(fs.existsSync(path.join(out, 'final', 'model.safetensors'))).toBe(true);
  });
});

describe('crash safety', () => {
  test('SIGKILL during a checkpoint save leaves no partial checkpoint-N', async () => {
    const tmp = tmpDir('kill');
    try {
      const out = path.join(tmp, 'out');
      const marker = path.join(tmp, 'marker');
      const script = path.join(tmp, 'save.ts');
      const src = (p: string) => JSON.stringify(path.join(ROOT, 'src', p));
      fs.writeFileSync(
        script,
        `import * as fs from 'fs';
import { GLiNER } from ${src('gliner')};
import { Trainer } from ${src('training/trainer')};
import { normalizeGlinerRecord } from ${src('training/data')};
(async () => {
  const g = await GLiNER.fromPretrained(${JSON.stringify(MODEL_DIR)}, { backend: 'wasm' });
  const ex = [normalizeGlinerRecord({ tokenized_text: ['Alice', 'went', 'home'], ner: [[0, 0, 'person']] })];
  const t = new Trainer(g, ex, { config: { numSteps: 1 }, outputDir: ${JSON.stringify(out)}, sourceDir: ${JSON.stringify(MODEL_DIR)} });
  // signal the parent, then stay busy inside the save until killed
  await t.saveCheckpoint(() => { fs.writeFileSync(${JSON.stringify(marker)}, 'x'); return new Promise(() => setInterval(() => {}, 1000)); });
})();
`,
      );
      const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', script], { cwd: ROOT, stdio: 'ignore' });
      const exited = new Promise((r) => child.once('exit', r));
      const deadline = Date.now() + 90000;
      while (!fs.existsSync(marker) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(fs.existsSync(marker)).toBe(true);
      expect(child.exitCode).toBeNull(); // still inside the save
      child.kill('SIGKILL');
      await exited;
      const names = fs.readdirSync(out);
      expect(names.some((n) => /^checkpoint-0\.tmp-/.test(n))).toBe(true); // the files were written...
      expect(names).not.toContain('checkpoint-0'); // ...but the checkpoint never appeared
      expect(listCheckpoints(out)).toEqual([]);
      expect(cleanStaleTemp(out).length).toBe(1);
      expect(fs.readdirSync(out)).toEqual([]);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('evaluateExamples', () => {
  test('scores the model through the inference path; every dataset label is prompted', async () => {
    const model = await GLiNER.fromPretrained(MODEL_DIR, { backend: 'wasm' });
    try {
      const dev = examples(5, 11);
      const m = await evaluateExamples(model, dev, { threshold: 0.5 });
      expect(m.labels).toEqual(['city', 'date', 'organization', 'person']);
      expect(m.numExamples).toBe(5);
      expect(m.tp + m.fn).toBe(dev.reduce((a, e) => a + e.spans.length, 0));
      // threshold 1 predicts nothing
      const none = await evaluateExamples(model, dev, { threshold: 1 });
      expect(none).toMatchObject({ tp: 0, fp: 0, precision: 0, recall: 0, f1: 0 });
    } finally {
      model.dispose();
    }
  });
});
