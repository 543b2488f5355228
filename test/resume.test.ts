/**
 * Resuming: a run stopped after N updates and resumed from its checkpoint follows the same loss
 * trajectory as an uninterrupted 2N-update run (dropout on, gradient accumulation, a warm-up and
 * decay schedule, type sampling, a mid-epoch stop), and seeds make runs reproducible.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GLiNER } from '../src/gliner';
import { initBackend } from '../src/backend';
import { normalizeGlinerRecord } from '../src/training/data';
import { Trainer, TrainResult } from '../src/training/trainer';
import { TrainConfigInput } from '../src/training/train-config';
import { latestCheckpoint, readTrainerState } from '../src/training/checkpoint';
import { referenceModelDirs } from './helpers/reference';
import { syntheticNer } from './helpers/synthetic-ner';

const MODEL_DIR = referenceModelDirs().find((d) => d.endsWith('tiny_buckets8')) ?? referenceModelDirs()[0];
const N = 3;

let tmp: string;
let modelDir: string;

/** The fixture with dropout switched on (head 0.3, encoder 0.1), so that dropout seeding matters. */
function dropoutCopy(dir: string): string {
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(MODEL_DIR)) {
    if (!f.startsWith('expected_')) fs.copyFileSync(path.join(MODEL_DIR, f), path.join(dir, f));
  }
  const cfgFile = path.join(dir, 'gliner_config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  cfg.dropout = 0.3;
  cfg.encoder_config.hidden_dropout_prob = 0.1;
  cfg.encoder_config.attention_probs_dropout_prob = 0.1;
  fs.writeFileSync(cfgFile, JSON.stringify(cfg));
  return dir;
}

const train = syntheticNer(20, 'train', 21).map((r) => normalizeGlinerRecord(r));
const config: TrainConfigInput = {
  numSteps: 2 * N,
  trainBatchSize: 3,
  gradientAccumulationSteps: 2,
  lrEncoder: 1e-3,
  lrOthers: 2e-3,
  warmupRatio: 0.2,
  schedulerType: 'linear',
  evalEvery: 0,
  saveSteps: 0,
  seed: 5,
};

async function run(outputDir: string | undefined, options: { stopAt?: number; resume?: string; seed?: number } = {}): Promise<{ result: TrainResult; weights: Float32Array }> {
  const model = await GLiNER.fromPretrained(modelDir, { backend: 'wasm' });
  let trainer: Trainer | undefined;
  try {
    trainer = new Trainer(model, train, {
      config: { ...config, seed: options.seed ?? config.seed },
      outputDir,
      sourceDir: outputDir ? modelDir : undefined,
      onStep: (s) => {
        if (options.stopAt !== undefined && s.step === options.stopAt) trainer!.stop();
      },
    });
    if (options.resume) await trainer.resume(options.resume);
    const result = await trainer.train();
    return { result, weights: model.model.exportWeights().get('span_rep_layer.span_rep_layer.out_project.3.weight')!.data as Float32Array };
  } finally {
    trainer?.dispose();
    model.dispose();
  }
}

beforeAll(async () => {
  await initBackend('wasm');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-resume-'));
  modelDir = dropoutCopy(path.join(tmp, 'model'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let fullLosses: TrainResult['losses'] = [];

test(`train ${N} updates, stop, resume to ${2 * N}: same losses (1e-5) and weights as an uninterrupted run`, async () => {
  const full = await run(undefined);
  fullLosses = full.result.losses;
  expect(full.result.losses.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);

  const partOut = path.join(tmp, 'part');
  const first = await run(partOut, { stopAt: N });
  expect(first.result.stopped).toBe(true);
  expect(first.result.globalStep).toBe(N);
  const ckpt = latestCheckpoint(partOut)!;
  expect(ckpt.step).toBe(N);
  const state = readTrainerState(ckpt.dir);
  // 3 updates x 2 micro-batches of 3 examples over 20 examples (7 batches/epoch): stopped mid-epoch
  expect(state.planner).toMatchObject({ epoch: 0, batch: 6 });

  const second = await run(partOut, { resume: ckpt.dir });
  expect(second.result.stopped).toBe(false);
  expect(second.result.losses.map((l) => l.step)).toEqual([4, 5, 6]);
  const stitched = [...first.result.losses, ...second.result.losses];
  stitched.forEach((l, i) => {
    expect(Math.abs(l.loss - full.result.losses[i].loss)).toBeLessThan(1e-5);
  });
  let worst = 0;
  for (let i = 0; i < full.weights.length; i++) worst = Math.max(worst, Math.abs(full.weights[i] - second.weights[i]));
  expect(worst).toBeLessThan(1e-6);
  // the metrics log has one line per logged step, no duplicates from the resumed part
  const steps = fs.readFileSync(path.join(partOut, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  expect(steps).toEqual([1, 2, 3, 4, 5, 6].filter((s) => s % 10 === 0 || s === 6 || s === N));
});

test('the seed decides the run: same seed, same losses; another seed, other dropout and data', async () => {
  expect(fullLosses.length).toBe(2 * N);
  const again = await run(undefined);
  expect(again.result.losses).toEqual(fullLosses);
  const other = await run(undefined, { seed: 6 });
  expect(other.result.losses[0].loss).not.toBe(fullLosses[0].loss);
});
