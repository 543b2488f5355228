/**
 * The trainer really learns: a copy of the tiny random-weight fixture model is fine-tuned on a
 * synthetic NER set (person / city / organization / date, random syllable names, 30 sentence
 * frames with shared openers and closers) and scored on a held-out split whose names and sentence
 * frames never occur in training.
 * Held-out micro-F1 starts near 0 and must reach 0.9; training stops as soon as it does (checked
 * every EVAL_EVERY updates) or after MAX_STEPS. The F1 before and after is printed.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GLiNER } from '../src/gliner';
import { initBackend } from '../src/backend';
import { normalizeGlinerRecord } from '../src/training/data';
import { Trainer } from '../src/training/trainer';
import { evaluateExamples, formatMetrics } from '../src/training/evaluate';
import { referenceModelDirs } from './helpers/reference';
import { SYNTHETIC_TRAINING_RECIPE, syntheticNer } from './helpers/synthetic-ner';

const FIXTURE = referenceModelDirs().find((d) => d.endsWith('tiny_buckets8')) ?? referenceModelDirs()[0];
const TARGET_F1 = 0.9;
const MAX_STEPS = 250;
const EVAL_EVERY = 25;

let tmp: string;
beforeAll(async () => {
  await initBackend('wasm');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-learn-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test(`fine-tuning the tiny fixture on synthetic NER reaches held-out micro-F1 >= ${TARGET_F1} (from near 0)`, async () => {
  // a private copy: the fixture itself is never written
  const modelDir = path.join(tmp, 'model');
  fs.mkdirSync(modelDir);
  for (const f of fs.readdirSync(FIXTURE)) if (!f.startsWith('expected_')) fs.copyFileSync(path.join(FIXTURE, f), path.join(modelDir, f));
  const train = syntheticNer(2000, 'train', 1).map((r) => normalizeGlinerRecord(r));
  const heldout = syntheticNer(120, 'heldout', 2).map((r) => normalizeGlinerRecord(r));

  const model = await GLiNER.fromPretrained(modelDir, { backend: 'wasm' });
  const started = Date.now();
  try {
    const before = await evaluateExamples(model, heldout);
    expect(before.f1).toBeLessThan(0.1);

    const curve: string[] = [];
    const trainer: Trainer = new Trainer(model, train, {
      config: {
        ...SYNTHETIC_TRAINING_RECIPE,
        numSteps: MAX_STEPS,
        evalEvery: EVAL_EVERY,
        saveSteps: 0,
        seed: 1,
      },
      evalExamples: heldout,
      outputDir: path.join(tmp, 'run'),
      sourceDir: modelDir,
      onEval: ({ step, metrics }) => {
        curve.push(`${step}:${metrics.f1.toFixed(3)}`);
        if (metrics.f1 >= TARGET_F1) trainer.stop();
      },
    });
    let result;
    try {
      result = await trainer.train();
    } finally {
      trainer.dispose();
    }
    const after = result.lastEval!;
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `learning test: held-out micro-F1 ${before.f1.toFixed(3)} -> ${after.f1.toFixed(3)} after ${result.globalStep} updates of 16 ` +
        `(${seconds.toFixed(0)}s; ${formatMetrics(after)}; per label ${Object.entries(after.perLabel).map(([l, m]) => `${l} ${m.f1.toFixed(2)}`).join(', ')}; curve ${curve.join(' ')})`,
    );
    expect(after.f1).toBeGreaterThanOrEqual(TARGET_F1);

    // the checkpoint written at the stop scores the same after a reload
    const reloaded = await GLiNER.fromPretrained(result.lastCheckpoint!, { backend: 'wasm' });
    try {
      expect((await evaluateExamples(reloaded, heldout)).f1).toBe(after.f1);
    } finally {
      reloaded.dispose();
    }
  } finally {
    model.dispose();
  }
}, 900_000);
