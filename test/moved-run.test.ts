/**
 * trainer_state.json names the best checkpoint relative to the run folder: a run folder that was
 * moved and is resumed with save_total_limit 1 keeps its real best checkpoint.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GLiNER } from '../src/gliner';
import { Trainer, resolveStoredCheckpoint } from '../src/training/trainer';
import { TrainingExample } from '../src/training/data';
import { syntheticNer } from './helpers/synthetic-ner';

const toExamples = (n: number, split: 'train' | 'heldout'): TrainingExample[] =>
  syntheticNer(n, split, 3).map((r) => ({ tokens: r.tokenized_text, spans: r.ner.map(([start, end, label]) => ({ start, end, label })) }));

let root: string;
beforeAll(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-moved-run-'))));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

test('a moved run folder resumed with save_total_limit 1 keeps its best checkpoint', async () => {
  const train = toExamples(8, 'train');
  const dev = toExamples(4, 'heldout');
  // learning rates 0: F1 never improves, so the best stays the first evaluation (step 1)
  const config = { trainBatchSize: 4, lrEncoder: 0, lrOthers: 0, evalEvery: 1, saveTotalLimit: 1, warmupRatio: 0 };
  const before = path.join(root, 'before');
  const model = await GLiNER.fromPretrained('fixtures/models/demo', { backend: 'wasm' });
  try {
    const warnings: string[] = [];
    const common = { evalExamples: dev, sourceDir: 'fixtures/models/demo', saveFinalModel: false, onWarning: (m: string) => warnings.push(m) };
    // stopped after step 2 of 4 (the stop saves checkpoint-2)
    const t1: Trainer = new Trainer(model, train, { ...common, config: { ...config, numSteps: 4 }, outputDir: before, onStep: ({ step }) => (step === 2 ? t1.stop() : undefined) });
    const r1 = await t1.train();
    t1.dispose();
    expect(r1.bestStep).toBe(1);
    const state = JSON.parse(fs.readFileSync(path.join(before, 'checkpoint-2', 'trainer_state.json'), 'utf8'));
    expect(state.best_model_checkpoint).toBe('checkpoint-1');

    const after = path.join(root, 'moved', 'run');
    fs.mkdirSync(path.dirname(after));
    fs.renameSync(before, after);
    const t2 = new Trainer(model, train, { ...common, config: { ...config, numSteps: 4 }, outputDir: after });
    await t2.resume(path.join(after, 'checkpoint-2'));
    const r2 = await t2.train();
    t2.dispose();
    expect(r2.bestCheckpoint).toBe(path.join(after, 'checkpoint-1'));
    expect(fs.readdirSync(after).filter((f) => f.startsWith('checkpoint-')).sort()).toEqual(['checkpoint-1', 'checkpoint-4']);
    expect(warnings).toEqual([]);
  } finally {
    model.dispose();
  }
});

test('states written with working-directory paths resolve inside the run folder', () => {
  expect(resolveStoredCheckpoint('runs/old/checkpoint-40', '/data/new')).toBe(path.join('/data/new', 'checkpoint-40'));
  expect(resolveStoredCheckpoint('/abs/old/checkpoint-40', '/data/new')).toBe(path.join('/data/new', 'checkpoint-40'));
  expect(resolveStoredCheckpoint('checkpoint-40', '/data/new')).toBe(path.join('/data/new', 'checkpoint-40'));
  expect(resolveStoredCheckpoint(null, '/data/new')).toBeNull();
});
