/**
 * Fine-tuning GLiNER from TypeScript: load a model, train on a GLiNER-format file, evaluate on a
 * development set before and after, and save checkpoints plus the final model.
 *
 *   npx ts-node examples/fine-tune.ts --model path/to/gliner_small-v2.1 \
 *     --train train.jsonl --dev dev.jsonl --output runs/example --steps 500
 *
 * The same is available as a command: `gliner-tf train --help`.
 */
import { parseArgs } from 'util';
import { GLiNER } from '../src/gliner';
import { readTrainingFile } from '../src/training/data';
import { Trainer } from '../src/training/trainer';
import { evaluateExamples, formatMetrics } from '../src/training/evaluate';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      train: { type: 'string' },
      dev: { type: 'string' },
      output: { type: 'string', default: 'runs/example' },
      steps: { type: 'string', default: '200' },
    },
  });
  if (!values.model || !values.train || !values.dev) {
    throw new Error('usage: fine-tune.ts --model DIR --train FILE --dev FILE [--output DIR] [--steps N]');
  }

  // Data in GLiNER's format ({"tokenized_text": [...], "ner": [[start, end, label], ...]}), JSON or JSONL.
  const train = (await readTrainingFile(values.train)).examples;
  const dev = (await readTrainingFile(values.dev)).examples;

  const model = await GLiNER.fromPretrained(values.model);
  try {
    const before = await evaluateExamples(model, dev);
    console.log(`F1 before: ${formatMetrics(before)}`);

    const trainer = new Trainer(model, train, {
      // Upstream GLiNER's key semantics (see src/training/train-config.ts for every option).
      config: {
        numSteps: Number(values.steps),
        trainBatchSize: 8,
        lrEncoder: 1e-5,
        lrOthers: 5e-5,
        schedulerType: 'linear',
        warmupRatio: 0.1,
        evalEvery: 100,
        saveTotalLimit: 2,
      },
      evalExamples: dev,
      outputDir: values.output,
      sourceDir: values.model, // tokenizer files are copied from here into every checkpoint
      onEval: ({ step, metrics }) => console.log(`step ${step}: ${formatMetrics(metrics)}`),
    });
    try {
      const result = await trainer.train();
      const after = result.lastEval ?? (await evaluateExamples(model, dev));
      console.log(`F1 after:  ${formatMetrics(after)} (${result.globalStep} steps, ${result.seconds.toFixed(1)}s)`);
      console.log(`final model: ${result.finalModelDir}`);
    } finally {
      trainer.dispose();
    }
  } finally {
    model.dispose();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
