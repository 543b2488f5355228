/**
 * `gliner-tf train`: fine-tune a GLiNER model (or build one from a bare DeBERTa encoder) on a
 * GLiNER / Pile-NER / NuNER training file, with periodic evaluation, checkpoints and resume.
 */
import * as fs from 'fs';
import * as path from 'path';
import { GLiNER } from '../src/gliner';
import { BackendPreference } from '../src/backend';
import { TrainingExample, describeRoutineSkips, readTrainingFile } from '../src/training/data';
import { WordSplitterName, isWordSplitterName } from '../src/processing/word-splitter';
import { TrainConfig, TrainConfigError, TrainConfigInput, readTrainConfigFile, resolveTrainConfig } from '../src/training/train-config';
import { SCHEDULER_TYPES } from '../src/training/schedule';
import { Trainer } from '../src/training/trainer';
import { formatMetrics } from '../src/training/evaluate';
import { FileSet, latestCheckpoint } from '../src/training/checkpoint';
import { createFreshModel, freshModelOptionsFromKeys } from '../src/training/fresh-model';
import { InterruptedExit, Options, UsageError, numberOption, parseCommand, signalExitCode } from './cli-args';

export const TRAIN_HELP = `Usage: gliner-tf train --data FILE (--model DIR | --from-encoder DIR) --output DIR [options]

Fine-tune a GLiNER model on annotated data (GLiNER JSON/JSONL, Pile-NER or NuNER files, gzip ok).

Input and output:
  --data FILE            training data                                  [or train_data in --config]
  --eval-data FILE       development set, evaluated every --eval-every steps   [or val_data_dir]
  --model DIR            GLiNER model folder to start from              [or prev_path]
  --from-encoder DIR     build a new GLiNER from a bare DeBERTa-v3 folder (config.json, weights,
                         spm.model); model keys of --config (hidden_size, max_width, dropout) apply
  --output DIR           checkpoints (checkpoint-N/), final model (final/) and metrics.jsonl
                                                                        [or root_dir]
  --config FILE          JSON with upstream GLiNER's training keys (lr_encoder, lr_others,
                         num_steps, train_batch_size, warmup_ratio, scheduler_type, loss_alpha, ...);
                         flat or sectioned {"model","data","training"}; flags below override it
  --resume DIR|auto      continue from a checkpoint folder, or the latest one in --output

Training (defaults: upstream configs/config.yaml):
  --steps N              optimizer updates (num_steps)
  --epochs X             passes over the data (num_train_epochs), when --steps is not given
  --batch-size N         examples per batch (train_batch_size)                 [default: 8]
  --grad-accum N         batches per update (gradient_accumulation_steps)      [default: 1]
  --lr-encoder X         learning rate of token_rep_layer (encoder + projection) [default: 1e-5]
  --lr-others X          learning rate of the rest                            [default: 3e-5]
  --weight-decay-encoder X, --weight-decay-other X                  [default: 0.1, 0.01]
  --scheduler NAME       ${SCHEDULER_TYPES.join(' | ')}        [default: cosine]
  --warmup-ratio X       fraction of updates spent warming up                  [default: 0.05]
  --max-grad-norm X      clip the gradient norm (0: off)                       [default: 1.0]
  --loss-alpha X         focal alpha (negative: off)                           [default: 0.75]
  --loss-gamma X         focal gamma                                           [default: 0]
  --freeze-encoder       train the head only (freeze_token_rep)
  --seed N               seed of data order, type sampling and dropout         [default: 42]
  --on-nan stop|skip     what to do with a NaN/Inf loss                        [default: stop]

Evaluation and checkpoints:
  --eval-every N         evaluate every N updates (0: at the end only)         [default: 500]
  --save-steps N         checkpoint every N updates (default: --eval-every; 0: at the end only)
  --save-total-limit N   keep at most N checkpoints, never deleting the best or newest (0: all)
                                                                        [default: 3]
  --threshold X          span probability threshold for evaluation             [default: 0.5]

Other:
  --skip-bad             skip malformed data records (counted) instead of failing
  --strict               fail on rows real data has routinely and that are skipped (counted)
                         by default: NuNER rows with an empty output
  --word-splitter NAME   regex (upstream's) | intl (Intl.Segmenter) for raw-text data (Pile-NER,
                         NuNER) in Chinese, Japanese, Thai...                 [default: regex]
  --ema-decay D          keep an EMA of the weights (saved as model.ema.safetensors, evaluated
                         on dev beside the raw weights, final-ema/ at the end)
  --backend NAME         auto | tensorflow | wasm | cpu                        [default: auto]
  --quiet                no progress bar or evaluation lines
  --json                 print the final summary as JSON on standard output
  -h, --help             show this help

Ctrl-C stops after the current update, saves a checkpoint and exits with 130; --resume auto continues it.

Example:
  gliner-tf train --model fixtures/models/demo --data fixtures/data/synthetic-train.jsonl \\
    --eval-data fixtures/data/synthetic-dev.jsonl --output runs/demo-ft --steps 20 --eval-every 10 \\
    --lr-encoder 3e-3 --lr-others 5e-3`;

const OPTIONS: Options = {
  data: { type: 'string' },
  'eval-data': { type: 'string' },
  model: { type: 'string' },
  'from-encoder': { type: 'string' },
  output: { type: 'string' },
  config: { type: 'string' },
  resume: { type: 'string' },
  steps: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  'grad-accum': { type: 'string' },
  'lr-encoder': { type: 'string' },
  'lr-others': { type: 'string' },
  'weight-decay-encoder': { type: 'string' },
  'weight-decay-other': { type: 'string' },
  scheduler: { type: 'string' },
  'warmup-ratio': { type: 'string' },
  'max-grad-norm': { type: 'string' },
  'loss-alpha': { type: 'string' },
  'loss-gamma': { type: 'string' },
  'freeze-encoder': { type: 'boolean' },
  seed: { type: 'string' },
  'on-nan': { type: 'string' },
  'eval-every': { type: 'string' },
  'save-steps': { type: 'string' },
  'save-total-limit': { type: 'string' },
  threshold: { type: 'string' },
  'skip-bad': { type: 'boolean' },
  strict: { type: 'boolean' },
  'word-splitter': { type: 'string' },
  'ema-decay': { type: 'string' },
  backend: { type: 'string' },
  quiet: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

type Values = Record<string, string | boolean | undefined>;

const isPosInt = (v: number) => Number.isInteger(v) && v >= 1;
const isNonNegInt = (v: number) => Number.isInteger(v) && v >= 0;
const isNonNeg = (v: number) => v >= 0;

/** Command-line overrides as a partial config (only flags that were given). */
export function flagsToConfig(values: Values): TrainConfigInput {
  const out: TrainConfigInput = {};
  const n = (flag: string, check: (v: number) => boolean, what: string): number | undefined =>
    values[flag] === undefined ? undefined : numberOption(values, flag, 0, check, what);
  out.numSteps = n('steps', isPosInt, 'a positive integer');
  out.numTrainEpochs = n('epochs', (v) => v > 0, 'a positive number');
  out.trainBatchSize = n('batch-size', isPosInt, 'a positive integer');
  out.gradientAccumulationSteps = n('grad-accum', isPosInt, 'a positive integer');
  out.lrEncoder = n('lr-encoder', isNonNeg, 'a non-negative number');
  out.lrOthers = n('lr-others', isNonNeg, 'a non-negative number');
  out.weightDecayEncoder = n('weight-decay-encoder', isNonNeg, 'a non-negative number');
  out.weightDecayOther = n('weight-decay-other', isNonNeg, 'a non-negative number');
  out.warmupRatio = n('warmup-ratio', (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  out.maxGradNorm = n('max-grad-norm', isNonNeg, 'a non-negative number');
  out.lossAlpha = n('loss-alpha', (v) => v <= 1, 'a number <= 1');
  out.lossGamma = n('loss-gamma', isNonNeg, 'a non-negative number');
  out.seed = n('seed', isNonNegInt, 'a non-negative integer');
  out.evalEvery = n('eval-every', isNonNegInt, 'a non-negative integer');
  out.saveSteps = n('save-steps', isNonNegInt, 'a non-negative integer');
  out.saveTotalLimit = n('save-total-limit', isNonNegInt, 'a non-negative integer');
  out.evalThreshold = n('threshold', (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  if (values.steps !== undefined && values.epochs !== undefined) throw new UsageError('give --steps or --epochs, not both');
  if (values.epochs !== undefined) out.numSteps = null;
  const sched = values.scheduler;
  if (sched !== undefined) {
    if (!(SCHEDULER_TYPES as readonly string[]).includes(sched as string)) throw new UsageError(`--scheduler must be one of ${SCHEDULER_TYPES.join(', ')}, got '${String(sched)}'`);
    out.schedulerType = sched as TrainConfig['schedulerType'];
  }
  const onNan = values['on-nan'];
  if (onNan !== undefined) {
    if (onNan !== 'stop' && onNan !== 'skip') throw new UsageError(`--on-nan must be 'stop' or 'skip', got '${String(onNan)}'`);
    out.onNan = onNan;
  }
  if (values['freeze-encoder']) out.freezeTokenRep = true;
  if (values['ema-decay'] !== undefined) out.emaDecay = numberOption(values, 'ema-decay', 0, (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  for (const k of Object.keys(out) as (keyof TrainConfigInput)[]) if (out[k] === undefined) delete out[k];
  return out;
}

async function readData(
  file: string,
  skipBad: boolean,
  strict: boolean,
  what: string,
  log: (m: string) => void,
  reservedTokens?: readonly string[],
  wordSplitter?: WordSplitterName,
): Promise<TrainingExample[]> {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such file`);
  const r = await readTrainingFile(file, { skipBad, strict, reservedTokens, wordSplitter });
  if (r.skipped) {
    log(`${what}: skipped ${r.skipped} bad record(s); first: ${r.errors[0]?.message ?? '?'}`);
  }
  if (r.examples.length === 0) throw new Error(`${file}: no examples`);
  const routine = describeRoutineSkips(r.routineSkips);
  log(`${what}: ${r.examples.length} examples from ${file} (${r.format.schema}, ${r.format.container}${r.format.gzip ? ', gzip' : ''})${routine ? `, ${routine}; --strict makes them errors` : ''}`);
  return r.examples;
}

export async function runTrain(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const values = parseCommand(argv, OPTIONS);
  if (values.help) {
    out.write(TRAIN_HELP + '\n');
    return;
  }
  const quiet = Boolean(values.quiet);
  const log = (m: string) => {
    if (!quiet) process.stderr.write(`${m}\n`);
  };
  const warn = (m: string) => process.stderr.write(`gliner-tf train: ${m}\n`);

  let fileCfg: TrainConfigInput = {};
  let cfg: TrainConfig;
  try {
    if (typeof values.config === 'string') fileCfg = readTrainConfigFile(values.config);
    cfg = resolveTrainConfig(fileCfg, flagsToConfig(values));
  } catch (e) {
    if (e instanceof TrainConfigError) throw new UsageError(e.message);
    throw e;
  }
  const dataFile = (values.data as string | undefined) ?? cfg.trainData;
  const evalFile = (values['eval-data'] as string | undefined) ?? cfg.valData;
  const outputDir = (values.output as string | undefined) ?? cfg.rootDir;
  const encoderDir = values['from-encoder'] as string | undefined;
  let modelDir = (values.model as string | undefined) ?? (encoderDir ? null : cfg.prevPath);
  if (!dataFile) throw new UsageError('--data is required (or train_data in --config)');
  if (!outputDir) throw new UsageError('--output is required (or root_dir in --config)');
  if (values.model !== undefined && encoderDir !== undefined) throw new UsageError('give --model or --from-encoder, not both');
  const backend = (values.backend ?? 'auto') as BackendPreference;
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(backend)) throw new UsageError(`--backend must be auto, tensorflow, wasm or cpu, got '${backend}'`);

  // Resume: the checkpoint is a complete model folder, so it replaces --model.
  let resumeDir: string | null = null;
  if (typeof values.resume === 'string') {
    if (values.resume === 'auto') {
      const latest = latestCheckpoint(outputDir);
      if (latest) resumeDir = latest.dir;
      else log(`no checkpoint in ${outputDir}: starting from the beginning`);
    } else {
      resumeDir = values.resume;
      if (!fs.existsSync(resumeDir)) {
        const word = /^(last|latest|newest|true|yes)$/i.test(resumeDir);
        throw new UsageError(
          word
            ? `--resume ${resumeDir}: use --resume auto for the latest checkpoint in --output (${outputDir}), or name a checkpoint folder (${path.join(outputDir, 'checkpoint-N')})`
            : `--resume ${resumeDir}: no such checkpoint folder (--resume auto takes the latest one in --output)`,
        );
      }
    }
  }
  if (!resumeDir && !modelDir && !encoderDir) throw new UsageError('give --model DIR (or prev_path in --config) or --from-encoder DIR');

  for (const f of [dataFile, evalFile]) if (f && !fs.existsSync(f)) throw new Error(`${f}: no such file`);
  const strict = Boolean(values.strict);
  const splitter = values['word-splitter'] ?? 'regex';
  if (!isWordSplitterName(splitter)) throw new UsageError(`--word-splitter must be regex or intl, got '${String(splitter)}'`);

  let gliner: GLiNER;
  let tokenizerFiles: FileSet | undefined;
  let sourceDir: string | undefined;
  if (resumeDir) {
    gliner = await GLiNER.fromPretrained(resumeDir, { backend, onWarning: warn });
    sourceDir = resumeDir;
    modelDir = resumeDir;
  } else if (encoderDir) {
    const fresh = await createFreshModel(encoderDir, {
      ...freshModelOptionsFromKeys(cfg.model),
      maxLen: cfg.maxLen ?? undefined,
      maxTypes: cfg.maxTypes ?? undefined,
      maxNegTypeRatio: cfg.maxNegTypeRatio ?? undefined,
      seed: cfg.seed,
      backend,
      onWarning: warn,
    });
    log(`new GLiNER from ${encoderDir}: added ${fresh.addedTokens.join(', ') || 'no tokens'}, word embeddings ${fresh.vocab.from} -> ${fresh.vocab.to} rows`);
    gliner = fresh.gliner;
    tokenizerFiles = fresh.tokenizerFiles;
  } else {
    gliner = await GLiNER.fromPretrained(modelDir!, { backend, onWarning: warn });
    sourceDir = modelDir!;
  }

  // Read after the model so labels are checked against its tokenizer's special tokens (FILE:LINE).
  let train: TrainingExample[];
  let dev: TrainingExample[] | undefined;
  try {
    const reserved = gliner.reservedLabelTokens();
    train = await readData(dataFile, Boolean(values['skip-bad']), strict, 'training data', log, reserved, splitter);
    dev = evalFile ? await readData(evalFile, Boolean(values['skip-bad']), strict, 'evaluation data', log, reserved, splitter) : undefined;
  } catch (e) {
    gliner.dispose();
    throw e;
  }

  let trainer: Trainer | undefined;
  let interrupted: 'SIGINT' | 'SIGTERM' | null = null;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    if (!trainer) process.exit(signalExitCode(signal));
    interrupted = signal;
    warn('interrupted: finishing the current update and saving a checkpoint (Ctrl-C again to quit now)');
    trainer.stop();
    process.once('SIGINT', () => process.exit(130));
    process.once('SIGTERM', () => process.exit(143));
  };
  const onSigint = () => onSignal('SIGINT');
  const onSigterm = () => onSignal('SIGTERM');
  process.once('SIGINT', onSigint);
  // SIGTERM (kill, a job scheduler) stops the same way: checkpoint, then release the output lock.
  process.once('SIGTERM', onSigterm);
  try {
    trainer = new Trainer(gliner, train, {
      config: cfg,
      evalExamples: dev,
      outputDir,
      sourceDir,
      tokenizerFiles,
      progress: !quiet,
      onWarning: warn,
      onEval: ({ step, metrics, isBest }) => log(`step ${step}: eval ${formatMetrics(metrics)}${isBest ? ' (best)' : ''}`),
    });
    if (resumeDir) {
      await trainer.resume(resumeDir);
      log(`resumed from ${resumeDir} at step ${trainer.globalStep}`);
    }
    log(`training ${trainer.totalSteps} updates (batch ${cfg.trainBatchSize} x ${cfg.gradientAccumulationSteps}, ${trainer.planner.batchesPerEpoch()} batches per epoch) into ${outputDir}`);
    const result = await trainer.train();
    const summary = {
      output: path.resolve(outputDir),
      steps: result.globalStep,
      total_steps: result.totalSteps,
      stopped: result.stopped,
      final_loss: result.losses.length ? result.losses[result.losses.length - 1].loss : null,
      eval: result.lastEval ? { precision: result.lastEval.precision, recall: result.lastEval.recall, f1: result.lastEval.f1 } : null,
      best_f1: result.bestF1,
      best_step: result.bestStep,
      best_checkpoint: result.bestCheckpoint,
      last_checkpoint: result.lastCheckpoint,
      final_model: result.finalModelDir,
      skipped_batches: result.skippedBatches,
      seconds: Math.round(result.seconds * 10) / 10,
    };
    if (values.json) {
      out.write(JSON.stringify(summary) + '\n');
    } else {
      const lines = [
        `${result.stopped ? 'stopped' : 'finished'} at step ${result.globalStep}/${result.totalSteps} in ${summary.seconds}s`,
        result.lastEval ? `last eval: ${formatMetrics(result.lastEval)}` : null,
        result.bestF1 !== null ? `best F1 ${(100 * result.bestF1).toFixed(2)}% at step ${result.bestStep}${result.bestCheckpoint ? ` (${result.bestCheckpoint})` : ''}` : null,
        result.lastCheckpoint ? `checkpoint: ${result.lastCheckpoint}` : null,
        result.finalModelDir ? `final model: ${result.finalModelDir}` : null,
      ];
      out.write(lines.filter((l) => l !== null).join('\n') + '\n');
    }
    if (interrupted && result.stopped) {
      warn(`saved ${result.lastCheckpoint ?? 'nothing'}; continue with --resume auto --output ${outputDir}`);
      throw new InterruptedExit(signalExitCode(interrupted));
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onSigterm);
    trainer?.dispose();
    gliner.dispose();
  }
}
