/**
 * Training logs where no bar can be drawn, the zero-column terminal, and the F1-stays-0 advice.
 */
import { GLiNER } from '../src/gliner';
import { Trainer } from '../src/training/trainer';
import { TrainingExample } from '../src/training/data';
import { ProgressBar } from '../src/util/progress';
import { syntheticNer } from './helpers/synthetic-ner';

const toExamples = (n: number, split: 'train' | 'heldout'): TrainingExample[] =>
  syntheticNer(n, split, 4).map((r) => ({ tokens: r.tokenized_text, spans: r.ner.map(([start, end, label]) => ({ start, end, label })) }));

let model: GLiNER;
beforeAll(async () => (model = await GLiNER.fromPretrained('fixtures/models/demo', { backend: 'wasm' })));
afterAll(() => model.dispose());

test('stderr that is not a terminal gets one plain line per logging step', async () => {
  let text = '';
  const stream = { isTTY: false, write: (c: string) => ((text += c), true) };
  const t = new Trainer(model, toExamples(8, 'train'), { config: { numSteps: 4, trainBatchSize: 2, loggingSteps: 2, lrEncoder: 0, lrOthers: 0 }, progress: stream });
  await t.train();
  t.dispose();
  const lines = text.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(/^step 2\/4 loss \d+\.\d{4} lr (others|encoder) 0\.00e\+0 (encoder|others) 0\.00e\+0 \d+\.\d ex\/s ETA \d+s$/);
  expect(lines[1]).toMatch(/^step 4\/4 loss /);
  expect(text).not.toContain('\r');
});

test('a terminal that reports 0 columns still gets a readable bar', () => {
  const bar = new ProgressBar('train', 10, { stream: { isTTY: true, columns: 0, write: () => true }, unit: 'steps' });
  bar.update(3);
  expect(bar.render()).toMatch(/^train\s+30% \[/);
});

test('F1 that stays 0 gets a warning that says what to try', async () => {
  const warnings: string[] = [];
  const t = new Trainer(model, toExamples(8, 'train'), {
    // threshold 1: nothing is ever predicted, so F1 is 0 at every evaluation
    config: { numSteps: 3, trainBatchSize: 4, evalEvery: 1, evalThreshold: 1, lrEncoder: 1e-5, lrOthers: 3e-5 },
    evalExamples: toExamples(4, 'heldout'),
    onWarning: (m) => warnings.push(m),
  });
  await t.train();
  t.dispose();
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/^eval F1 has stayed 0\.00 for 2 evaluations \(step 2\)\..*--lr-encoder 3e-3 --lr-others 5e-3/);
});
