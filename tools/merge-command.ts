/**
 * `gliner-tf merge`: average compatible checkpoints into one model (uniform, weighted, or the
 * greedy soup when --eval-data is given).
 */
import * as fs from 'fs';
import { GLiNER } from '../src/gliner';
import { BackendPreference } from '../src/backend';
import { readTrainingFile } from '../src/training/data';
import { evaluateExamples } from '../src/training/evaluate';
import { MergeMode, mergeCheckpoints, writeMergedModel } from '../src/training/merge';
import { UsageError, numberOption, parseCommand, requireOption } from './cli-args';

export const MERGE_HELP = `Usage: gliner-tf merge --models A B C [--weights 0.5 0.3 0.2] --output DIR [--eval-data dev.json]

Average the weights of fine-tunes of the same model ("model soup"). Checkpoints with different
architectures or tokenizers are refused. The output is a model folder (first model's config and
tokenizer) plus merge.json with the recipe.

Options:
  --models DIR...      the model folders (checkpoints, final, final-ema)            [required]
  --weights W...       one weight per model (normalised to sum 1)    [default: uniform mean]
  --eval-data FILE     annotated dev data: greedy soup (models sorted by their dev F1, each
                       added only if the soup's dev F1 does not drop)
  --mode NAME          uniform | weighted | greedy       [default: from the options above]
  --threshold X        threshold for the dev F1 of the greedy soup                 [default: 0.5]
  --output DIR         where to write the merged model (atomically)                [required]
  --backend NAME       auto | tensorflow | wasm | cpu                              [default: auto]
  --quiet              no progress on standard error
  -h, --help           show this help

Examples:
  gliner-tf merge --models runs/a/final runs/b/final --output runs/soup
  gliner-tf merge --models runs/a/final runs/b/final runs/c/final --eval-data dev.json --output runs/greedy-soup`;

/** parseArgs has no "several values after one flag": collect them by hand. */
function takeList(argv: string[], flag: string): { values: string[] | undefined; rest: string[] } {
  const rest: string[] = [];
  let values: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== flag) {
      rest.push(argv[i]);
      continue;
    }
    values = [];
    while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) values.push(argv[++i]);
  }
  return { values, rest };
}

export async function runMerge(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const m = takeList(argv, '--models');
  const w = takeList(m.rest, '--weights');
  const values = parseCommand(w.rest, {
    output: { type: 'string' },
    'eval-data': { type: 'string' },
    mode: { type: 'string' },
    threshold: { type: 'string' },
    backend: { type: 'string' },
    quiet: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    out.write(MERGE_HELP + '\n');
    return;
  }
  const models = (m.values ?? []).flatMap((v) => v.split(',')).filter((v) => v !== '');
  if (models.length === 0) throw new UsageError('--models is required (two or more model folders)');
  const output = requireOption(values, 'output');
  let weights: number[] | undefined;
  if (w.values) {
    weights = w.values.flatMap((v) => v.split(',')).filter((v) => v !== '').map((v) => {
      const x = Number(v);
      if (!Number.isFinite(x) || x < 0) throw new UsageError(`--weights must be non-negative numbers, got '${v}'`);
      return x;
    });
    if (weights.length !== models.length) throw new UsageError(`--weights has ${weights.length} values for ${models.length} models`);
  }
  const evalData = values['eval-data'] as string | undefined;
  const mode = (values.mode ?? (evalData ? 'greedy' : weights ? 'weighted' : 'uniform')) as MergeMode;
  if (!['uniform', 'weighted', 'greedy'].includes(mode)) throw new UsageError(`--mode must be uniform, weighted or greedy, got '${mode}'`);
  if (mode === 'greedy' && !evalData) throw new UsageError('--mode greedy needs --eval-data');
  if (mode === 'weighted' && !weights) throw new UsageError('--mode weighted needs --weights');
  if (mode === 'greedy' && weights) throw new UsageError('the greedy soup averages uniformly: drop --weights');
  const threshold = numberOption(values, 'threshold', 0.5, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  const backend = (values.backend ?? 'auto') as BackendPreference;
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(backend)) throw new UsageError(`--backend must be auto, tensorflow, wasm or cpu, got '${backend}'`);
  for (const dir of models) if (!fs.existsSync(dir)) throw new Error(`${dir}: no such model folder`);
  const log = values.quiet ? () => {} : (s: string) => process.stderr.write(`gliner-tf merge: ${s}\n`);

  let model: GLiNER | null = null;
  try {
    let score: ((weights: Map<string, import('../src/io/host-tensor').HostTensor>, what: string) => Promise<number>) | undefined;
    if (mode === 'greedy') {
      if (!fs.existsSync(evalData!)) throw new Error(`${evalData}: no such file`);
      const data = await readTrainingFile(evalData!);
      if (data.examples.length === 0) throw new Error(`${evalData}: no examples`);
      model = await GLiNER.fromPretrained(models[0], { backend, onWarning: log });
      const target = model;
      score = async (weights) => {
        target.model.loadWeights(weights, 'merged weights');
        return (await evaluateExamples(target, data.examples, { threshold })).f1;
      };
    }
    const result = await mergeCheckpoints(models, { mode, weights, score, onProgress: log });
    await writeMergedModel(output, models[0], result);
    const summary = {
      output,
      mode,
      used: result.used,
      ...(result.f1 !== undefined ? { dev_f1: result.f1, individual: result.individual, steps: result.steps } : {}),
    };
    out.write(JSON.stringify(summary) + '\n');
  } finally {
    model?.dispose();
  }
}
