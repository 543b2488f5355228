/**
 * The training loop: upstream GLiNER's HF-Trainer recipe on a GLiNER model.
 *
 *   for each optimizer update (step s = 0 .. T-1):
 *     for each of gradient_accumulation_steps micro-batches (BatchPlanner order):
 *       loss, grads = forward/backward in train mode (dropout on), seeded by (seed, s, micro)
 *       accumulate grads / gradient_accumulation_steps       (upstream scales each loss so)
 *     clip the global gradient norm to max_grad_norm          (torch clip_grad_norm_)
 *     AdamW update with lr = base lr of the group * schedule(s)
 *     log; evaluate every eval_every updates; checkpoint every save_steps updates
 *
 * Reproducibility: batches and entity-type sampling come from the BatchPlanner (seeded, position
 * based), dropout masks from a per-micro-batch seed; nothing depends on wall-clock or on how
 * the run was split, so a run resumed from a checkpoint follows the same trajectory as one that
 * never stopped. (The step runs under `withDropoutSeeds`, which seeds every dropout mask of the
 * model from a generator seeded per micro-batch.)
 *
 * NaN/Inf: a micro-batch whose loss, or an update whose gradient norm, is not finite is reported
 * with its step, epoch, batch index and example indices; `on_nan: 'stop'` (default) throws a
 * TrainingError, 'skip' drops it and goes on.
 */
import { OutputLock } from './output-lock';
import { ReservedTokenSource, checkLabelTokens, reservedTokens } from '../processing/label-tokens';
import * as fs from 'fs';
import * as path from 'path';
import { GlinerConfig } from '../config';
import { GlinerModel } from '../model';
import { readModelWeights } from '../io/model-dir';
import { ProgressBar, ProgressStream, formatDuration } from '../util/progress';
import { BatchPlanner, BatchPosition, PreparedBatch, Rng, TrainingExample, deriveSeed } from './data';
import { LossOptions, validateLossOptions } from './loss';
import { StepContext, StepResult, lossAndGrads } from './step';
import { AdamW, GradAccumulator, buildParamGroups, clipGradNorm, disposeGrads, isEncoderParam } from './optimizer';
import { LrSchedule, resolveWarmupSteps } from './schedule';
import { MODEL_KEYS, TrainConfig, TrainConfigInput, resolveTrainConfig, trainConfigToJson } from './train-config';
import { EvalMetrics, PredictTarget, evaluateExamples } from './evaluate';
import {
  EvalRecord,
  FileSet,
  TrainerState,
  checkpointDir,
  cleanStaleTemp,
  readOptimizerState,
  readTokenizerFiles,
  readEmaWeights,
  readTrainerState,
  rotateCheckpoints,
  writeCheckpointFolder,
} from './checkpoint';
import { isDiskFullError } from '../io/atomic-write';
import { isOutOfMemoryError } from '../kernels/wasm-memory';
import { withDropoutSeeds } from '../layers/activations';
import { WeightAverage } from './ema';

/** Seed stream for dropout masks (the planner uses 1 and 2). */
const STREAM_DROPOUT = 3;

export class TrainingError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TrainingError';
  }
}

/** What the trainer needs of a model: a GLiNER instance. */
export interface TrainableModel {
  config: GlinerConfig;
  model: GlinerModel;
  tokenizer: PredictTarget['tokenizer'] & StepContext['tokenizer'];
  /** Where the tokenizer files came from (GLiNER.fromPretrained sets it): the default for `sourceDir`. */
  tokenizerDir?: string | null;
}

export interface StepInfo {
  /** Updates done (1-based number of this update). */
  step: number;
  totalSteps: number;
  /** Fractional epoch after this update. */
  epoch: number;
  /** Mean loss of the micro-batches of this update (NaN if the update was skipped). */
  loss: number;
  /** Learning rates of this update: `encoder` (token_rep_layer) and `others`. */
  lr: Record<string, number>;
  /** Global gradient norm before clipping (NaN if skipped). */
  gradNorm: number;
  /** Examples in this update, the time it took and the throughput. */
  examples: number;
  seconds: number;
  examplesPerSecond: number;
  /** The update was dropped (non-finite loss or gradient with on_nan 'skip'). */
  skipped: boolean;
  /** Planner positions of the micro-batches. */
  batches: BatchPosition[];
}

export interface EvalInfo {
  step: number;
  metrics: EvalMetrics;
  /** The same evaluation with the EMA weights (when ema_decay is set). */
  emaMetrics?: EvalMetrics;
  isBest: boolean;
}

export interface TrainerOptions {
  /** Training options (upstream key semantics, see train-config.ts); merged over the defaults. */
  config?: TrainConfigInput;
  /** Development set for periodic evaluation. */
  evalExamples?: readonly TrainingExample[];
  /** Entity types prompted during evaluation (default: all types of the evaluation set). */
  evalLabels?: readonly string[];
  /** Where checkpoints, the final model and metrics.jsonl go; nothing is written without it. */
  outputDir?: string;
  /** Tokenizer files copied into checkpoints; default: read from `sourceDir`. */
  tokenizerFiles?: FileSet;
  /** The folder the model was loaded from (for its tokenizer files). */
  sourceDir?: string;
  onStep?: (info: StepInfo) => void | Promise<void>;
  onEval?: (info: EvalInfo) => void | Promise<void>;
  /** Warnings and notes (skipped batches, config mismatches). Default: console.warn. */
  onWarning?: (message: string) => void;
  /** Draw a progress bar (on a TTY): true for stderr, or a stream. Default false. */
  progress?: boolean | ProgressStream;
  /** Metrics log (JSON lines); default `<outputDir>/metrics.jsonl`; null disables it. */
  metricsFile?: string | null;
  /** Write the final model to `<outputDir>/final` at the end. Default true. */
  saveFinalModel?: boolean;
}

export interface TrainResult {
  /** Updates done in total (including those before a resume). */
  globalStep: number;
  totalSteps: number;
  /** stop() was called before the end. */
  stopped: boolean;
  /** Loss of every update of this run (NaN for skipped ones). */
  losses: { step: number; loss: number }[];
  lastEval: EvalMetrics | null;
  /** The last evaluation of the EMA weights (ema_decay), or null. */
  lastEmaEval: EvalMetrics | null;
  /** `<outputDir>/final-ema`: a model folder with the EMA weights (ema_decay), or null. */
  finalEmaModelDir: string | null;
  bestF1: number | null;
  bestStep: number | null;
  bestCheckpoint: string | null;
  lastCheckpoint: string | null;
  finalModelDir: string | null;
  skippedBatches: number;
  seconds: number;
}

/** Run `fn` with the model's dropout masks drawn from a generator seeded with `seed`. */
export function withSeededDropout<T>(seed: number, fn: () => T): T {
  const rng = new Rng(seed);
  return withDropoutSeeds(() => rng.nextFloat(), fn);
}

/** Number of optimizer updates a config asks for. */
export function totalTrainingSteps(cfg: TrainConfig, batchesPerEpoch: number): number {
  if (cfg.numSteps !== null) return cfg.numSteps;
  const epochs = cfg.numTrainEpochs ?? 1;
  return Math.max(1, Math.ceil((epochs * batchesPerEpoch) / cfg.gradientAccumulationSteps));
}

/** Options that change the trajectory: a resume with other values is not a continuation. */
const TRAJECTORY_KEYS = ['seed', 'train_batch_size', 'gradient_accumulation_steps', 'lr_encoder', 'lr_others', 'weight_decay_encoder',
  'weight_decay_other', 'scheduler_type', 'warmup_ratio', 'warmup_steps', 'num_steps', 'max_grad_norm', 'loss_alpha', 'loss_gamma',
  'label_smoothing', 'loss_reduction', 'max_types', 'max_neg_type_ratio', 'max_len', 'shuffle_types', 'random_drop', 'size_sup'];

/** A label holding a special token would shift the prompt (see label-tokens.ts): refuse it up front. */
function checkExampleLabels(examples: readonly TrainingExample[], reserved: readonly string[]): void {
  examples.forEach((ex, i) => {
    const labels = [...ex.spans.map((s) => s.label), ...(ex.labels ?? []), ...(ex.negatives ?? [])];
    checkLabelTokens(labels, reserved, () => `training example ${i}`);
  });
}

export class Trainer {
  readonly config: TrainConfig;
  /** The model config as saved: the model's own with the data overrides (max_len, max_types, ...). */
  readonly modelConfig: GlinerConfig;
  readonly totalSteps: number;
  readonly planner: BatchPlanner;
  readonly optimizer: AdamW;
  readonly schedule: LrSchedule;
  private readonly target: TrainableModel;
  private readonly examples: readonly TrainingExample[];
  private readonly ctx: StepContext;
  private readonly lossOptions: LossOptions;
  private readonly tokenizerFiles: FileSet | null;
  private readonly warn: (message: string) => void;
  private readonly metricsFile: string | null;
  /** Exponential moving average of the weights (ema_decay), or null. */
  readonly ema: WeightAverage | null;
  private lastEmaEval: EvalMetrics | null = null;
  private globalStepValue = 0;
  private best: { f1: number; step: number } | null = null;
  private bestCheckpoint: string | null = null;
  private lastCheckpoint: string | null = null;
  private evalHistory: EvalRecord[] = [];
  private skipped = 0;
  private stopRequested = false;
  private firstStepOfRun = 0;
  private zeroF1Warned = false;
  private running = false;
  private disposed = false;

  constructor(
    model: TrainableModel,
    trainExamples: readonly TrainingExample[],
    private readonly options: TrainerOptions = {},
  ) {
    this.target = model;
    this.warn = options.onWarning ?? ((m) => console.warn(`gliner-tf train: ${m}`));
    const cfg = resolveTrainConfig(options.config);
    this.config = cfg;
    const base = model.config;
    this.modelConfig = {
      ...base,
      maxLen: cfg.maxLen ?? base.maxLen,
      maxTypes: cfg.maxTypes ?? base.maxTypes,
      maxNegTypeRatio: cfg.maxNegTypeRatio ?? base.maxNegTypeRatio,
      raw: { ...base.raw },
    };
    this.checkModelKeys(cfg.model, base);

    if (!Array.isArray(trainExamples) || trainExamples.length === 0) throw new TrainingError('no training examples');
    // upstream size_sup: train on a random subset
    this.examples = cfg.sizeSup > 0 && cfg.sizeSup < trainExamples.length ? new Rng(cfg.seed).sample(trainExamples, cfg.sizeSup) : trainExamples;
    this.planner = new BatchPlanner(this.examples, {
      batchSize: cfg.trainBatchSize,
      seed: cfg.seed,
      maxLen: this.modelConfig.maxLen,
      maxWidth: this.modelConfig.maxWidth,
      maxTypes: this.modelConfig.maxTypes,
      maxNegTypeRatio: this.modelConfig.maxNegTypeRatio,
      shuffleTypes: cfg.shuffleTypes,
      randomDrop: cfg.randomDrop,
      bucketBatches: cfg.lengthBucketBatches,
    });
    this.totalSteps = totalTrainingSteps(cfg, this.planner.batchesPerEpoch());

    checkExampleLabels(this.examples, reservedTokens(model.tokenizer as ReservedTokenSource, { entToken: base.entToken, sepToken: base.sepToken }));
    const classTokenId = model.tokenizer.tokenToId(base.entToken);
    if (classTokenId === undefined) throw new TrainingError(`the tokenizer has no '${base.entToken}' token`);
    const named = model.model.namedParameters();
    const frozen = new Set<string>();
    for (const [name] of named) {
      if (cfg.freezeTokenRep && isEncoderParam(name)) frozen.add(name);
      if (cfg.freezeTextEncoder && name.startsWith('token_rep_layer.bert_layer.')) frozen.add(name);
    }
    if (frozen.size === named.length) throw new TrainingError('every parameter is frozen: nothing to train');
    const trainable = frozen.size ? new Set(named.map(([n]) => n).filter((n) => !frozen.has(n))) : undefined;
    this.ctx = { model: model.model, tokenizer: model.tokenizer, classTokenId, trainable };
    this.lossOptions = { alpha: cfg.lossAlpha, gamma: cfg.lossGamma, labelSmoothing: cfg.labelSmoothing, reduction: cfg.lossReduction, probMargin: cfg.lossProbMargin };
    validateLossOptions(this.lossOptions);

    // read before any tensor is allocated, so a failure here leaks nothing
    const sourceDir = options.sourceDir ?? model.tokenizerDir ?? undefined;
    this.tokenizerFiles = options.tokenizerFiles ?? (sourceDir ? readTokenizerFiles(sourceDir) : null);
    if (options.outputDir && !this.tokenizerFiles) {
      throw new TrainingError('checkpoints need the tokenizer files: load the model with GLiNER.fromPretrained, or pass sourceDir (the model folder) or tokenizerFiles');
    }

    const groups = buildParamGroups(model.model, {
      lrEncoder: cfg.lrEncoder,
      lrOthers: cfg.lrOthers,
      weightDecayEncoder: cfg.weightDecayEncoder,
      weightDecayOther: cfg.weightDecayOther,
      frozen,
    });
    this.schedule = new LrSchedule({
      type: cfg.schedulerType,
      totalSteps: this.totalSteps,
      warmupSteps: resolveWarmupSteps(this.totalSteps, cfg.warmupRatio, cfg.warmupSteps),
    });
    this.optimizer = new AdamW(new Map(named.map(([n, p]) => [n, p.variable])), groups, { beta1: cfg.adamBeta1, beta2: cfg.adamBeta2, eps: cfg.adamEpsilon });

    const metrics = options.metricsFile === undefined ? (options.outputDir ? path.join(options.outputDir, 'metrics.jsonl') : null) : options.metricsFile;
    this.metricsFile = metrics;
    if (options.evalExamples !== undefined && options.evalExamples.length === 0) this.warn('the evaluation set is empty; no evaluation will run');
    this.ema = cfg.emaDecay !== null ? new WeightAverage(model.model, cfg.emaDecay, cfg.emaWarmup) : null;
  }

  /** Updates done so far. */
  get globalStep(): number {
    return this.globalStepValue;
  }

  /** Ask the loop to stop after the current update (it then saves a checkpoint). */
  stop(): void {
    this.stopRequested = true;
  }

  /**
   * Continue from a checkpoint folder: model weights, optimizer moments and step counts, the
   * data position (and so the dropout and sampling streams), best metric and history.
   */
  async resume(dir: string): Promise<void> {
    this.checkAlive();
    if (this.running) throw new TrainingError('cannot resume while training');
    const state = readTrainerState(dir);
    // before anything is loaded: a resume continues the same data order, which other data cannot have
    const saved = state.planner;
    if (saved && saved.numExamples !== this.planner.state().numExamples) {
      throw new TrainingError(
        `${dir} was trained on ${saved.numExamples} examples but this training data has ${this.planner.state().numExamples}: ` +
          `a resume continues the same data order, so it needs the same data (same file, same --skip-bad). ` +
          `To train further on other data, start a new run from the checkpoint's weights: --model ${dir} without --resume.`,
      );
    }
    if (saved && saved.batchSize !== this.config.trainBatchSize) {
      throw new TrainingError(
        `${dir} was trained with batch size ${saved.batchSize}, this run asks for ${this.config.trainBatchSize}: resume with --batch-size ${saved.batchSize}, ` +
          `or start a new run from the checkpoint's weights: --model ${dir} without --resume.`,
      );
    }
    const { file, weights } = await readModelWeights(dir);
    this.target.model.loadWeights(weights, file);
    const opt = readOptimizerState(dir);
    this.optimizer.loadState(opt.tensors, opt.meta, path.join(dir, 'optimizer.safetensors'));
    this.planner.restore(state.planner);
    if (this.ema) await this.resumeEma(dir);
    this.globalStepValue = state.global_step;
    this.best = state.best_metric !== null && state.best_step !== null ? { f1: state.best_metric, step: state.best_step } : null;
    this.bestCheckpoint = resolveStoredCheckpoint(state.best_model_checkpoint, this.options.outputDir ?? path.dirname(path.resolve(dir)));
    this.evalHistory = [...state.eval_history];
    this.skipped = state.skipped_batches;
    this.lastCheckpoint = dir;
    const now = trainConfigToJson(this.config);
    const changed = TRAJECTORY_KEYS.filter((k) => JSON.stringify(state.train_config[k]) !== JSON.stringify(now[k]));
    if (changed.length) {
      this.warn(`resuming with changed options (${changed.map((k) => `${k}: ${JSON.stringify(state.train_config[k])} -> ${JSON.stringify(now[k])}`).join(', ')}); the run will not match an uninterrupted one`);
    }
    if (this.globalStepValue > this.totalSteps) {
      throw new TrainingError(`${dir} is at step ${this.globalStepValue}, beyond the ${this.totalSteps} steps configured`);
    }
    this.truncateMetrics();
  }

  /** Evaluate the current model on the evaluation set. */
  async evaluate(): Promise<EvalMetrics> {
    this.checkAlive();
    const ex = this.options.evalExamples;
    if (!ex || ex.length === 0) throw new TrainingError('no evaluation examples were given');
    return this.evaluateCurrentWeights(ex);
  }

  /** Evaluate the EMA weights (ema_decay) on the evaluation set; the raw weights are restored after. */
  async evaluateEma(): Promise<EvalMetrics> {
    this.checkAlive();
    const ex = this.options.evalExamples;
    if (!ex || ex.length === 0) throw new TrainingError('no evaluation examples were given');
    if (!this.ema) throw new TrainingError('no weight average: set ema_decay');
    return this.ema.withAveragedWeights(() => this.evaluateCurrentWeights(ex));
  }

  private async evaluateCurrentWeights(ex: readonly TrainingExample[]): Promise<EvalMetrics> {
    return evaluateExamples({ config: this.modelConfig, model: this.target.model, tokenizer: this.target.tokenizer }, ex, {
      threshold: this.config.evalThreshold,
      flatNer: this.config.evalFlatNer,
      batchSize: this.config.evalBatchSize,
      labels: this.options.evalLabels,
    });
  }

  /** Train until the configured number of updates (or stop()). */
  async train(): Promise<TrainResult> {
    this.checkAlive();
    if (this.running) throw new TrainingError('train() is already running');
    this.running = true;
    this.stopRequested = false;
    const started = Date.now();
    this.firstStepOfRun = this.globalStepValue;
    const cfg = this.config;
    const out = this.options.outputDir;
    let lock: OutputLock | null = null;
    if (out) {
      try {
        // One trainer per output folder (output-lock.ts); released in the finally below.
        lock = OutputLock.acquire(out, { onStale: (m) => this.warn(m) });
      } catch (e) {
        this.running = false;
        throw e;
      }
      fs.mkdirSync(out, { recursive: true });
      cleanStaleTemp(out);
    }
    const stream = typeof this.options.progress === 'object' ? this.options.progress : undefined;
    const bar = new ProgressBar('train', this.totalSteps, { quiet: !this.options.progress, stream, initial: this.globalStepValue, unit: 'steps' });
    const losses: { step: number; loss: number }[] = [];
    let lastEval: EvalMetrics | null = null;
    let lastEvalStep = -1;
    let lastSaveStep = this.lastCheckpoint ? this.globalStepValue : -1;
    const saveEvery = cfg.saveSteps ?? cfg.evalEvery;
    const window: StepInfo[] = [];
    const haveEval = (this.options.evalExamples?.length ?? 0) > 0;
    try {
      while (this.globalStepValue < this.totalSteps && !this.stopRequested) {
        const info = this.trainStep();
        const step = info.step;
        losses.push({ step, loss: info.loss });
        window.push(info);
        bar.setSuffix(
          `loss ${fmt(info.loss)} lr ${Object.entries(info.lr).map(([g, v]) => `${g} ${v.toExponential(2)}`).join(' ')} ${info.examplesPerSecond.toFixed(1)} ex/s`,
        );
        bar.update(1);
        if (step % cfg.loggingSteps === 0 || step === this.totalSteps) {
          this.logTrain(window, step);
          if (this.options.progress && !bar.enabled) this.plainLogLine(window, step, started);
          window.length = 0;
        }
        if (this.options.onStep) await this.options.onStep(info);

        let saveNow = out !== undefined && saveEvery > 0 && step % saveEvery === 0;
        if (haveEval && cfg.evalEvery > 0 && step % cfg.evalEvery === 0) {
          lastEval = await this.runEval(step);
          lastEvalStep = step;
          // keep the best model: save it even off the save cadence
          if (out && this.best?.step === step) saveNow = true;
        }
        if (saveNow) {
          await this.saveCheckpoint();
          lastSaveStep = step;
        }
        // let signal handlers and timers run between updates
        await new Promise((resolve) => setImmediate(resolve));
      }
      // a stop between logging steps still logs the updates since the last line
      if (window.length) this.logTrain(window, this.globalStepValue);
      const finished = this.globalStepValue >= this.totalSteps;
      if (finished && haveEval && lastEvalStep !== this.globalStepValue) {
        lastEval = await this.runEval(this.globalStepValue);
        lastEvalStep = this.globalStepValue;
      }
      if (out && lastSaveStep !== this.globalStepValue && this.globalStepValue > 0) await this.saveCheckpoint();
      let finalModelDir: string | null = null;
      if (out && finished && this.options.saveFinalModel !== false) {
        const finalDir = path.join(out, 'final');
        finalModelDir = await writeCheckpointFolder(finalDir, {
          config: this.modelConfig,
          weights: this.target.model.exportWeights(),
          tokenizerFiles: this.tokenizerFiles!,
        }).catch((e) => {
          throw this.saveError(finalDir, e);
        });
      }
      let finalEmaModelDir: string | null = null;
      if (out && finished && this.ema && this.options.saveFinalModel !== false) {
        const emaDir = path.join(out, 'final-ema');
        const weights = await this.ema.exportWeights();
        finalEmaModelDir = await writeCheckpointFolder(emaDir, { config: this.modelConfig, weights, tokenizerFiles: this.tokenizerFiles! }).catch((e) => {
          throw this.saveError(emaDir, e);
        });
      }
      bar.finish();
      return {
        globalStep: this.globalStepValue,
        totalSteps: this.totalSteps,
        stopped: !finished,
        losses,
        lastEval,
        lastEmaEval: this.lastEmaEval,
        finalEmaModelDir,
        bestF1: this.best?.f1 ?? null,
        bestStep: this.best?.step ?? null,
        bestCheckpoint: this.bestCheckpoint,
        lastCheckpoint: this.lastCheckpoint,
        finalModelDir,
        skippedBatches: this.skipped,
        seconds: (Date.now() - started) / 1000,
      };
    } finally {
      bar.finish();
      lock?.release();
      this.running = false;
    }
  }

  /** Save a resumable checkpoint of the current state as `<outputDir>/checkpoint-<step>`. */
  async saveCheckpoint(hook?: () => Promise<void> | void): Promise<string> {
    this.checkAlive();
    const out = this.options.outputDir;
    if (!out) throw new TrainingError('no outputDir was given');
    const step = this.globalStepValue;
    const dir = checkpointDir(out, step);
    const previousBest = this.bestCheckpoint;
    if (this.best?.step === step) this.bestCheckpoint = dir;
    const ema = this.ema ? { weights: await this.ema.exportWeights(), state: this.ema.state() } : undefined;
    try {
      await writeCheckpointFolder(
        dir,
        {
          config: this.modelConfig,
          weights: this.target.model.exportWeights(),
          tokenizerFiles: this.tokenizerFiles!,
          optimizer: this.optimizer.state(),
          trainerState: this.trainerState(),
          ema,
        },
        hook,
      );
    } catch (e) {
      this.bestCheckpoint = previousBest;
      throw this.saveError(dir, e);
    }
    this.lastCheckpoint = dir;
    const keep = new Set<string>();
    if (this.bestCheckpoint) keep.add(path.resolve(this.bestCheckpoint));
    rotateCheckpoints(out, this.config.saveTotalLimit, keep);
    return dir;
  }

  /**
   * A failed save as a TrainingError that says what survived: the folder being written is
   * never left half-written, and earlier checkpoints are untouched.
   */
  private saveError(dir: string, e: unknown): TrainingError {
    const reason = e instanceof Error ? e.message : String(e);
    const kept = this.lastCheckpoint ? `the last checkpoint ${this.lastCheckpoint} is intact` : 'no earlier checkpoint was written';
    const advice = isDiskFullError(e)
      ? `free disk space (or lower --save-total-limit), then continue with --resume auto`
      : `fix the cause, then continue with --resume auto`;
    return new TrainingError(`cannot save ${dir}: ${reason}. Nothing was half-written and ${kept}; ${advice}.`, { cause: e });
  }

  /** Free the optimizer state (the model belongs to the caller). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.optimizer.dispose();
    this.ema?.dispose();
  }

  private trainStep(): StepInfo {
    const cfg = this.config;
    const s = this.globalStepValue;
    const accum = cfg.gradientAccumulationSteps;
    const t0 = Date.now();
    const acc = new GradAccumulator();
    const microLosses: number[] = [];
    const positions: BatchPosition[] = [];
    let examples = 0;
    const lrFactor = this.schedule.factor(s);
    // one rate per module family: the decay / no-decay groups share theirs
    const lr: Record<string, number> = {};
    for (const [name, v] of Object.entries(this.optimizer.learningRates(lrFactor))) lr[name.replace(/_no_decay$/, '')] = v;
    try {
      for (let micro = 0; micro < accum; micro++) {
        const batch = this.planner.nextBatch();
        positions.push(batch.position!);
        const seed = deriveSeed(cfg.seed, STREAM_DROPOUT, s, micro);
        let res: StepResult;
        try {
          res = withSeededDropout(seed, () => lossAndGrads(this.ctx, batch, this.lossOptions, true));
        } catch (e) {
          throw isOutOfMemoryError(e) ? this.outOfMemory(e, s, batch) : e;
        }
        const loss = res.loss.dataSync()[0];
        res.loss.dispose();
        if (!Number.isFinite(loss)) {
          disposeGrads(res.grads);
          this.badBatch(`loss is ${loss}`, s, [batch]);
          continue;
        }
        if (accum === 1) acc.adopt(res.grads);
        else {
          acc.add(res.grads, 1 / accum);
          disposeGrads(res.grads);
        }
        microLosses.push(loss);
        examples += batch.batchSize;
      }
      let gradNorm = NaN;
      let skipped = microLosses.length === 0;
      if (!skipped) {
        const grads = acc.take();
        try {
          gradNorm = clipGradNorm(grads, cfg.maxGradNorm);
          if (!Number.isFinite(gradNorm)) {
            this.badBatch(`gradient norm is ${gradNorm}`, s, positions);
            skipped = true;
          } else {
            this.optimizer.step(grads, lrFactor);
            this.ema?.update();
          }
        } finally {
          disposeGrads(grads);
        }
      }
      this.globalStepValue = s + 1;
      const seconds = Math.max((Date.now() - t0) / 1000, 1e-6);
      const pos = this.planner.position();
      return {
        step: s + 1,
        totalSteps: this.totalSteps,
        epoch: pos.epoch + pos.batch / this.planner.batchesPerEpoch(),
        loss: microLosses.length ? microLosses.reduce((a, b) => a + b, 0) / microLosses.length : NaN,
        lr,
        gradNorm,
        examples,
        seconds,
        examplesPerSecond: examples / seconds,
        skipped,
        batches: positions,
      };
    } finally {
      acc.dispose();
    }
  }

  /** A training step that ran out of memory, with the batch's size and what to change. */
  private outOfMemory(e: unknown, step: number, batch: PreparedBatch): TrainingError {
    const cfg = this.config;
    const smaller = Math.max(1, Math.floor(cfg.trainBatchSize / 2));
    const advice =
      cfg.trainBatchSize > 1
        ? `lower the batch size and raise gradient accumulation to keep the effective batch (--batch-size ${smaller} --grad-accum ${cfg.gradientAccumulationSteps * Math.ceil(cfg.trainBatchSize / smaller)})`
        : 'the batch is already 1 example: shorten max_len or max_width';
    return new TrainingError(
      `out of memory in training step ${step + 1} (a batch of ${batch.batchSize} examples, up to ${batch.maxWords} words and ${batch.numClasses} entity types, ` +
        `${batch.batchSize * batch.numSpans} spans): ${(e as Error).message ?? String(e)}. To fit: ${advice}; ` +
        `or use a backend with more memory (@tensorflow/tfjs-node; wasm addresses at most 4 GiB). ` +
        `Continue from the last checkpoint with --resume auto.`,
      { cause: e },
    );
  }

  /** Report a non-finite batch: throw (on_nan 'stop') or count and warn ('skip'). */
  private badBatch(what: string, step: number, batches: (PreparedBatch | BatchPosition)[]): void {
    const where = batches
      .map((b) => {
        const p = 'examples' in b ? b.position! : b;
        const ids = 'examples' in b ? `: examples ${b.examples.map((e) => e.index).slice(0, 20).join(', ')}${b.examples.length > 20 ? ', ...' : ''}` : '';
        return `epoch ${p.epoch} batch ${p.batch}${ids}`;
      })
      .join('; ');
    const message = `non-finite training value at step ${step + 1} (${what}; ${where})`;
    if (this.config.onNan === 'stop') throw new TrainingError(`${message}. Set on_nan to 'skip' to drop such batches.`);
    this.skipped++;
    this.warn(`${message}: skipped`);
  }

  private async runEval(step: number): Promise<EvalMetrics> {
    const metrics = await this.evaluate();
    const emaMetrics = this.ema ? await this.evaluateEma() : undefined;
    if (emaMetrics) this.lastEmaEval = emaMetrics;
    const isBest = this.best === null || metrics.f1 > this.best.f1;
    if (isBest) {
      this.best = { f1: metrics.f1, step };
      this.bestCheckpoint = null; // set when this step's checkpoint is written
    }
    this.evalHistory.push({ step, precision: metrics.precision, recall: metrics.recall, f1: metrics.f1 });
    this.warnIfF1StaysZero();
    this.appendMetrics({
      type: 'eval',
      step,
      eval_precision: metrics.precision,
      eval_recall: metrics.recall,
      eval_f1: metrics.f1,
      per_label: Object.fromEntries(Object.entries(metrics.perLabel).map(([l, m]) => [l, { precision: m.precision, recall: m.recall, f1: m.f1, support: m.support }])),
      is_best: isBest,
      ...(emaMetrics ? { ema_eval_precision: emaMetrics.precision, ema_eval_recall: emaMetrics.recall, ema_eval_f1: emaMetrics.f1 } : {}),
    });
    if (this.options.onEval) await this.options.onEval({ step, metrics, isBest, emaMetrics });
    return metrics;
  }

  /**
   * Where no bar can be drawn (stderr is a file or a pipe), one plain line per logging step:
   * "step 20/200 loss 0.4123 lr encoder 1.00e-5 others 3.00e-5 12.3 ex/s ETA 1m20s".
   */
  private plainLogLine(window: StepInfo[], step: number, startedMs: number): void {
    const stream = typeof this.options.progress === 'object' ? this.options.progress : process.stderr;
    const ok = window.filter((w) => !w.skipped);
    const loss = ok.length ? ok.reduce((a, w) => a + w.loss, 0) / ok.length : NaN;
    const last = window[window.length - 1];
    const exPerS = window.reduce((a, w) => a + w.examples, 0) / Math.max(window.reduce((a, w) => a + w.seconds, 0), 1e-6);
    const done = step - this.firstStepOfRun;
    const elapsed = (Date.now() - startedMs) / 1000;
    const eta = done > 0 ? formatDuration((elapsed / done) * (this.totalSteps - step)) : '?';
    const lr = Object.entries(last.lr).map(([g, v]) => `${g} ${v.toExponential(2)}`).join(' ');
    stream.write(`step ${step}/${this.totalSteps} loss ${fmt(loss)} lr ${lr} ${exPerS.toFixed(1)} ex/s ETA ${eta}\n`);
  }

  /** Two evaluations in a row at F1 0 mostly mean learning rates far too low for the model (or labels it never sees). */
  private warnIfF1StaysZero(): void {
    const h = this.evalHistory;
    if (this.zeroF1Warned || h.length < 2 || h.some((e) => e.f1 > 0)) return;
    this.zeroF1Warned = true;
    const cfg = this.config;
    this.warn(
      `eval F1 has stayed 0.00 for ${h.length} evaluations (step ${h[h.length - 1].step}). ` +
        `With lr_encoder ${cfg.lrEncoder} / lr_others ${cfg.lrOthers} (upstream's defaults, made for pretrained gliner_small and up) a small or ` +
        `randomly initialised model barely moves: try --lr-encoder 3e-3 --lr-others 5e-3 (how fixtures/models/demo was trained), ` +
        `more steps, or check that the evaluation labels are the training labels (metrics.jsonl has the per-label scores).`,
    );
  }

  private logTrain(window: StepInfo[], step: number): void {
    const ok = window.filter((w) => !w.skipped);
    const mean = (f: (w: StepInfo) => number) => (ok.length ? ok.reduce((a, w) => a + f(w), 0) / ok.length : null);
    const last = window[window.length - 1];
    this.appendMetrics({
      type: 'train',
      step,
      epoch: round(last.epoch, 4),
      loss: mean((w) => w.loss),
      grad_norm: mean((w) => w.gradNorm),
      learning_rate: last.lr,
      examples_per_second: round(window.reduce((a, w) => a + w.examples, 0) / window.reduce((a, w) => a + w.seconds, 0), 2),
      skipped: window.length - ok.length,
    });
  }

  private appendMetrics(record: Record<string, unknown>): void {
    if (!this.metricsFile) return;
    fs.mkdirSync(path.dirname(this.metricsFile), { recursive: true });
    fs.appendFileSync(this.metricsFile, JSON.stringify({ ...record, time: new Date().toISOString() }) + '\n');
  }

  /** After a resume, drop log lines from steps the resumed run will redo. */
  private truncateMetrics(): void {
    const file = this.metricsFile;
    if (!file || !fs.existsSync(file)) return;
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
    const kept = lines.filter((l) => {
      try {
        return (JSON.parse(l) as { step?: number }).step! <= this.globalStepValue;
      } catch {
        return false;
      }
    });
    if (kept.length !== lines.length) fs.writeFileSync(file, kept.map((l) => l + '\n').join(''));
  }

  private trainerState(): TrainerState {
    const pos = this.planner.position();
    return {
      version: 1,
      global_step: this.globalStepValue,
      epoch: pos.epoch + pos.batch / this.planner.batchesPerEpoch(),
      total_steps: this.totalSteps,
      planner: this.planner.state(),
      best_metric: this.best?.f1 ?? null,
      best_step: this.best?.step ?? null,
      // relative to the run folder, so a moved run folder still knows its best checkpoint
      best_model_checkpoint: this.bestCheckpoint === null ? null : path.relative(path.resolve(this.options.outputDir ?? '.'), path.resolve(this.bestCheckpoint)).split(path.sep).join('/'),
      eval_history: this.evalHistory,
      skipped_batches: this.skipped,
      train_config: trainConfigToJson(this.config),
    };
  }

  /**
   * The weight average of a checkpoint, exactly as saved. A checkpoint written without
   * ema_decay restarts the average from the resumed weights, with a warning.
   */
  private async resumeEma(dir: string): Promise<void> {
    const saved = readEmaWeights(dir);
    if (!saved) {
      this.warn(`${dir} has no EMA weights (trained without ema_decay); the average starts from the resumed weights`);
      await this.ema!.load(this.target.model.exportWeights(), 0);
      return;
    }
    if (saved.state.decay !== this.ema!.decay || saved.state.warmup !== this.ema!.warmup) {
      this.warn(`${saved.file} was averaged with ema_decay ${saved.state.decay} (warmup ${saved.state.warmup}); continuing with ${this.ema!.decay} (warmup ${this.ema!.warmup})`);
    }
    await this.ema!.load(saved.weights, saved.state.updates, saved.file);
  }

  /** Model-definition keys of the train config must agree with the model being fine-tuned. */
  private checkModelKeys(keys: Record<string, unknown>, base: GlinerConfig): void {
    const actual: Record<string, unknown> = {
      max_width: base.maxWidth,
      hidden_size: base.hiddenSize,
      dropout: base.dropout,
      span_mode: base.spanMode,
      subtoken_pooling: base.subtokenPooling,
      num_rnn_layers: base.numRnnLayers,
      ent_token: base.entToken,
      sep_token: base.sepToken,
      embed_ent_token: base.embedEntToken,
    };
    for (const k of Object.keys(keys)) {
      if (!(MODEL_KEYS as readonly string[]).includes(k) || !(k in actual)) continue;
      if (JSON.stringify(keys[k]) !== JSON.stringify(actual[k])) {
        this.warn(`'${k}' is ${JSON.stringify(keys[k])} in the training config but ${JSON.stringify(actual[k])} in the model; model-definition keys only apply when building a model from an encoder, the model's value is used`);
      }
    }
  }

  private checkAlive(): void {
    if (this.disposed) throw new TrainingError('this trainer has been disposed');
  }
}

/**
 * The best checkpoint named in a trainer state, as a path from here. It is stored relative to the
 * run folder; older states held the path as the run saw it (relative to its working directory, or
 * absolute), so for those we take the folder of that name in the run folder: checkpoints always
 * sit directly in it.
 */
export function resolveStoredCheckpoint(stored: string | null, runDir: string): string | null {
  if (stored === null) return null;
  return path.join(runDir, path.isAbsolute(stored) || stored.includes('/') || stored.includes(path.sep) ? path.basename(stored) : stored);
}

function fmt(x: number): string {
  return Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(4)) : String(x);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
