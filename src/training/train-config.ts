/**
 * Training configuration: upstream GLiNER's key names (configs/config.yaml, train.py and the
 * HF TrainingArguments it fills), read from a JSON file, validated, merged with command-line
 * overrides and defaulted.
 *
 * The file is either flat ({"lr_encoder": 1e-5, ...}) or sectioned like upstream's config.yaml
 * ({"model": {...}, "data": {...}, "training": {...}}). Unknown keys are errors that name the key
 * and suggest the closest known one. Numbers may be given as strings ("1e-5"), as upstream reads
 * them with float().
 *
 * Defaults follow upstream's configs/config.yaml where it has the key (lr_encoder 1e-5,
 * lr_others 3e-5, weight_decay_encoder 0.1, weight_decay_other 0.01, cosine schedule,
 * warmup_ratio 0.05, loss_alpha 0.75, loss_reduction sum, save_total_limit 3), and HF
 * TrainingArguments' otherwise (max_grad_norm 1.0, adam betas 0.9/0.999, eps 1e-8, seed 42).
 * Deliberate differences: train_batch_size 8 (config.yaml's 2 is a smoke-test value; upstream's
 * create_training_args and older configs use 8) and random_drop false (upstream still has the key
 * but its current collator never reads it, so false is what upstream actually does).
 */
import * as fs from 'fs';
import { SCHEDULER_TYPES, SchedulerType } from './schedule';

export type NanPolicy = 'stop' | 'skip';
export type LossReductionName = 'sum' | 'mean';

export interface TrainConfig {
  /** Optimizer updates (`num_steps`); null = derive from numTrainEpochs. */
  numSteps: number | null;
  /** `num_train_epochs` (used when numSteps is null). */
  numTrainEpochs: number | null;
  trainBatchSize: number;
  gradientAccumulationSteps: number;
  /** Evaluate (and log eval metrics) every N updates; 0 = only at the end. */
  evalEvery: number;
  /** Save a checkpoint every N updates; null = evalEvery; 0 = only at the end. */
  saveSteps: number | null;
  /** Keep at most this many checkpoints (never deleting the best or the newest); 0 = keep all. */
  saveTotalLimit: number;
  /** Write a training-loss line to the metrics log every N updates. */
  loggingSteps: number;
  warmupRatio: number;
  /** Explicit warm-up updates (wins over warmupRatio when > 0). */
  warmupSteps: number;
  schedulerType: SchedulerType;
  lrEncoder: number;
  lrOthers: number;
  weightDecayEncoder: number;
  weightDecayOther: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEpsilon: number;
  /** Clip the global gradient norm to this; 0 disables clipping. */
  maxGradNorm: number;
  lossAlpha: number;
  lossGamma: number;
  lossProbMargin: number;
  labelSmoothing: number;
  lossReduction: LossReductionName;
  /** Data pipeline overrides of the model config (null = the model's own value). */
  maxTypes: number | null;
  maxNegTypeRatio: number | null;
  maxLen: number | null;
  shuffleTypes: boolean;
  randomDrop: boolean;
  /** Freeze the whole token_rep_layer (encoder + projection), as upstream's freeze_token_rep. */
  freezeTokenRep: boolean;
  /** Freeze only the DeBERTa encoder (upstream's freeze_components: ["text_encoder"]). */
  freezeTextEncoder: boolean;
  seed: number;
  /** Train on a random subset of this many examples (upstream size_sup); -1 = all. */
  sizeSup: number;
  /** Length bucketing for the batch planner (see data/batching.ts); 0 = plain shuffling. */
  lengthBucketBatches: number;
  evalThreshold: number;
  evalBatchSize: number;
  evalFlatNer: boolean;
  /** What to do with a batch whose loss or gradient is NaN/Inf. */
  onNan: NanPolicy;
  /** Keep an exponential moving average of the weights with this decay (null: none); see ema.ts. */
  emaDecay: number | null;
  /** Ramp the EMA decay up as min(ema_decay, (1 + t) / (10 + t)) over the first updates. */
  emaWarmup: boolean;
  /** Paths (upstream data/training keys); command-line flags override them. */
  trainData: string | null;
  valData: string | null;
  prevPath: string | null;
  rootDir: string | null;
  /** Model-definition keys (used when building a fresh model from an encoder), as written. */
  model: Record<string, unknown>;
}

export const DEFAULT_TRAIN_CONFIG: Readonly<TrainConfig> = Object.freeze({
  numSteps: null,
  numTrainEpochs: null,
  trainBatchSize: 8,
  gradientAccumulationSteps: 1,
  evalEvery: 500,
  saveSteps: null,
  saveTotalLimit: 3,
  loggingSteps: 10,
  warmupRatio: 0.05,
  warmupSteps: 0,
  schedulerType: 'cosine',
  lrEncoder: 1e-5,
  lrOthers: 3e-5,
  weightDecayEncoder: 0.1,
  weightDecayOther: 0.01,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-8,
  maxGradNorm: 1.0,
  lossAlpha: 0.75,
  lossGamma: 0,
  lossProbMargin: 0,
  labelSmoothing: 0,
  lossReduction: 'sum',
  maxTypes: null,
  maxNegTypeRatio: null,
  maxLen: null,
  shuffleTypes: true,
  randomDrop: false,
  freezeTokenRep: false,
  freezeTextEncoder: false,
  seed: 42,
  sizeSup: -1,
  lengthBucketBatches: 100,
  evalThreshold: 0.5,
  evalBatchSize: 8,
  evalFlatNer: true,
  onNan: 'stop',
  emaDecay: null,
  emaWarmup: false,
  trainData: null,
  valData: null,
  prevPath: null,
  rootDir: null,
  model: {},
}) as Readonly<TrainConfig>;

export class TrainConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainConfigError';
  }
}

type Field = Exclude<keyof TrainConfig, 'model'>;
type Kind =
  | { t: 'int'; min: number; nullable?: boolean }
  | { t: 'num'; min?: number; max?: number; nullable?: boolean }
  | { t: 'bool' }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'path' };

interface KeySpec {
  field: Field;
  kind: Kind;
}

const int = (min: number, nullable = false): Kind => ({ t: 'int', min, nullable });
const num = (min?: number, max?: number, nullable = false): Kind => ({ t: 'num', min, max, nullable });
const BOOL: Kind = { t: 'bool' };
const PATH: Kind = { t: 'path' };

/** Upstream key -> field. Aliases are the HF TrainingArguments names upstream's train.py maps. */
const KEYS: Record<string, KeySpec> = {
  num_steps: { field: 'numSteps', kind: int(1, true) },
  max_steps: { field: 'numSteps', kind: int(1, true) },
  num_train_epochs: { field: 'numTrainEpochs', kind: num(0, undefined, true) },
  train_batch_size: { field: 'trainBatchSize', kind: int(1) },
  per_device_train_batch_size: { field: 'trainBatchSize', kind: int(1) },
  gradient_accumulation_steps: { field: 'gradientAccumulationSteps', kind: int(1) },
  eval_every: { field: 'evalEvery', kind: int(0) },
  save_steps: { field: 'saveSteps', kind: int(0, true) },
  save_total_limit: { field: 'saveTotalLimit', kind: int(0) },
  logging_steps: { field: 'loggingSteps', kind: int(1) },
  warmup_ratio: { field: 'warmupRatio', kind: num(0, 1) },
  warmup_steps: { field: 'warmupSteps', kind: num(0) }, // a value < 1 is a ratio (upstream config.yaml writes 0.05)
  scheduler_type: { field: 'schedulerType', kind: { t: 'enum', values: SCHEDULER_TYPES } },
  lr_scheduler_type: { field: 'schedulerType', kind: { t: 'enum', values: SCHEDULER_TYPES } },
  lr_encoder: { field: 'lrEncoder', kind: num(0) },
  learning_rate: { field: 'lrEncoder', kind: num(0) },
  lr_others: { field: 'lrOthers', kind: num(0) },
  others_lr: { field: 'lrOthers', kind: num(0) },
  weight_decay_encoder: { field: 'weightDecayEncoder', kind: num(0) },
  weight_decay: { field: 'weightDecayEncoder', kind: num(0) },
  weight_decay_other: { field: 'weightDecayOther', kind: num(0) },
  weight_decay_others: { field: 'weightDecayOther', kind: num(0) },
  others_weight_decay: { field: 'weightDecayOther', kind: num(0) },
  adam_beta1: { field: 'adamBeta1', kind: num(0, 0.999999) },
  adam_beta2: { field: 'adamBeta2', kind: num(0, 0.999999) },
  adam_epsilon: { field: 'adamEpsilon', kind: num(0) },
  max_grad_norm: { field: 'maxGradNorm', kind: num(0) },
  loss_alpha: { field: 'lossAlpha', kind: num(undefined, 1) },
  focal_loss_alpha: { field: 'lossAlpha', kind: num(undefined, 1) },
  loss_gamma: { field: 'lossGamma', kind: num(0) },
  focal_loss_gamma: { field: 'lossGamma', kind: num(0) },
  loss_prob_margin: { field: 'lossProbMargin', kind: num(0, 1) },
  focal_loss_prob_margin: { field: 'lossProbMargin', kind: num(0, 1) },
  label_smoothing: { field: 'labelSmoothing', kind: num(0, 1) },
  loss_reduction: { field: 'lossReduction', kind: { t: 'enum', values: ['sum', 'mean'] } },
  max_types: { field: 'maxTypes', kind: int(1, true) },
  max_neg_type_ratio: { field: 'maxNegTypeRatio', kind: num(0, undefined, true) },
  max_len: { field: 'maxLen', kind: int(1, true) },
  shuffle_types: { field: 'shuffleTypes', kind: BOOL },
  random_drop: { field: 'randomDrop', kind: BOOL },
  freeze_token_rep: { field: 'freezeTokenRep', kind: BOOL },
  seed: { field: 'seed', kind: int(0) },
  size_sup: { field: 'sizeSup', kind: int(-1) },
  length_bucket_batches: { field: 'lengthBucketBatches', kind: int(0) },
  eval_threshold: { field: 'evalThreshold', kind: num(0, 1) },
  eval_batch_size: { field: 'evalBatchSize', kind: int(1) },
  per_device_eval_batch_size: { field: 'evalBatchSize', kind: int(1) },
  eval_flat_ner: { field: 'evalFlatNer', kind: BOOL },
  on_nan: { field: 'onNan', kind: { t: 'enum', values: ['stop', 'skip'] } },
  ema_decay: { field: 'emaDecay', kind: num(0, 0.999999, true) },
  ema_warmup: { field: 'emaWarmup', kind: BOOL },
  train_data: { field: 'trainData', kind: PATH },
  val_data_dir: { field: 'valData', kind: PATH },
  eval_data: { field: 'valData', kind: PATH },
  prev_path: { field: 'prevPath', kind: PATH },
  root_dir: { field: 'rootDir', kind: PATH },
  output_dir: { field: 'rootDir', kind: PATH },
};

/**
 * Keys of upstream's GLiNERConfig: they define the network, so they matter only when a model is
 * built from a bare encoder; with an existing model the trainer warns if they disagree with it.
 */
export const MODEL_KEYS = [
  'model_name', 'name', 'max_width', 'hidden_size', 'dropout', 'fine_tune', 'subtoken_pooling', 'span_mode',
  'post_fusion_schema', 'num_post_fusion_layers', 'num_rnn_layers', 'fuse_layers', 'embed_ent_token',
  'ent_token', 'sep_token', 'words_splitter_type', 'labels_encoder', 'labels_decoder', 'decoder_mode',
  'blank_entity_prob', 'decoder_loss_coef', 'span_loss_coef', 'token_loss_coef', 'represent_spans', 'neg_spans_ratio',
] as const;

/** Upstream keys accepted for compatibility but with one supported value (checked). */
const SPECIAL_KEYS = ['negatives', 'masking', 'freeze_components', 'log_dir'] as const;

const SECTIONS = ['model', 'data', 'training'] as const;

/** Every key a config file may hold (for did-you-mean). */
export function knownTrainConfigKeys(): string[] {
  return [...Object.keys(KEYS), ...MODEL_KEYS, ...SPECIAL_KEYS];
}

/** Levenshtein distance (small strings only). */
function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** The closest candidate within a third of the key's length (at least 2 edits), or undefined. */
export function didYouMean(key: string, candidates: readonly string[]): string | undefined {
  const k = key.toLowerCase().replace(/-/g, '_');
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(k, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(k.length / 3)) ? best : undefined;
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function coerce(key: string, kind: Kind, v: unknown, where: string): unknown {
  const fail = (what: string): never => {
    throw new TrainConfigError(`${where}: '${key}' must be ${what}, got ${describe(v)}`);
  };
  switch (kind.t) {
    case 'bool':
      if (typeof v !== 'boolean') fail('true or false');
      return v;
    case 'path':
      if (v === null) return null;
      if (typeof v !== 'string' || v === '') fail('a path (string)');
      // upstream writes "none" for "no path"
      return ['none', 'null'].includes((v as string).toLowerCase()) ? null : v;
    case 'enum':
      if (typeof v !== 'string' || !kind.values.includes(v)) fail(`one of ${kind.values.map((x) => `'${x}'`).join(', ')}`);
      return v;
    case 'int':
    case 'num': {
      if (v === null && kind.nullable) return null;
      const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isFinite(n)) fail(kind.t === 'int' ? 'an integer' : 'a number');
      const x = n as number;
      if (kind.t === 'int' && !Number.isInteger(x)) fail('an integer');
      const min = kind.min;
      const max = kind.t === 'num' ? kind.max : undefined;
      if (min !== undefined && x < min) fail(`>= ${min}`);
      if (max !== undefined && x > max) fail(`<= ${max}`);
      return x;
    }
  }
}

/** A partial config as read from a file or flags: only the keys present. */
export type TrainConfigInput = Partial<TrainConfig>;

/**
 * Validate a parsed JSON config (flat or sectioned). `source` names the file in errors.
 * Returns only the keys present, converted to TrainConfig fields.
 */
export function parseTrainConfig(raw: unknown, source = 'train config'): TrainConfigInput {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TrainConfigError(`${source}: must be a JSON object`);
  const flat: [string, unknown, string][] = [];
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if ((SECTIONS as readonly string[]).includes(k) && typeof v === 'object' && v !== null && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) flat.push([k2, v2, `${k}.${k2}`]);
    } else {
      flat.push([k, v, k]);
    }
  }
  const out: TrainConfigInput = {};
  const seenField = new Map<string, string>();
  const model: Record<string, unknown> = {};
  const known = knownTrainConfigKeys();
  for (const [key, value, where] of flat) {
    const spec = KEYS[key];
    if (spec) {
      const prev = seenField.get(spec.field);
      if (prev) throw new TrainConfigError(`${source}: '${where}' and '${prev}' set the same option; keep one`);
      seenField.set(spec.field, where);
      const v = coerce(key, spec.kind, value, source);
      if (key === 'warmup_steps' && typeof v === 'number') {
        if (v > 0 && v < 1) {
          (out as Record<string, unknown>).warmupRatio = v;
          continue;
        }
        if (!Number.isInteger(v)) throw new TrainConfigError(`${source}: 'warmup_steps' must be an integer count (or a ratio below 1), got ${v}`);
      }
      (out as Record<string, unknown>)[spec.field] = v;
    } else if ((MODEL_KEYS as readonly string[]).includes(key)) {
      model[key] = value;
    } else if (key === 'negatives') {
      // upstream samples negative spans with this probability; 1.0 keeps them all (what we do)
      const n = coerce(key, num(0, 1), value, source);
      if (n !== 1) throw new TrainConfigError(`${source}: 'negatives' < 1 (negative span sampling) is not supported; use 1.0`);
    } else if (key === 'masking') {
      // only matters with negatives < 1
      coerce(key, { t: 'enum', values: ['none', 'global', 'label', 'span'] }, value, source);
    } else if (key === 'freeze_components') {
      if (value === null) continue;
      if (!Array.isArray(value) || !value.every((x) => typeof x === 'string')) {
        throw new TrainConfigError(`${source}: 'freeze_components' must be a list of component names or null`);
      }
      for (const c of value as string[]) {
        if (c !== 'text_encoder') throw new TrainConfigError(`${source}: freeze_components: '${c}' is not a component of this model (only 'text_encoder')`);
      }
      out.freezeTextEncoder = value.length > 0;
    } else if (key === 'log_dir') {
      const p = coerce(key, PATH, value, source);
      if (p !== null && out.rootDir === undefined) out.rootDir = p as string;
    } else {
      const hint = didYouMean(key, known);
      throw new TrainConfigError(`${source}: unknown key '${where}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
    }
  }
  if (Object.keys(model).length > 0) out.model = model;
  return out;
}

/** Read and validate a JSON config file. */
export function readTrainConfigFile(file: string): TrainConfigInput {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new TrainConfigError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (/\.ya?ml$/i.test(file)) throw new TrainConfigError(`${file}: YAML is not supported; write the same keys as JSON`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TrainConfigError(`${file}: invalid JSON (${(e as Error).message})`);
  }
  return parseTrainConfig(raw, file);
}

/** Merge inputs left to right (later wins) over the defaults and check cross-field rules. */
export function resolveTrainConfig(...inputs: (TrainConfigInput | undefined)[]): TrainConfig {
  const cfg: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, model: {} };
  for (const input of inputs) {
    if (!input) continue;
    for (const [k, v] of Object.entries(input)) {
      if (v === undefined) continue;
      if (k === 'model') cfg.model = { ...cfg.model, ...(v as Record<string, unknown>) };
      else if (!(k in DEFAULT_TRAIN_CONFIG)) throw new TrainConfigError(`unknown training option '${k}'`);
      else (cfg as unknown as Record<string, unknown>)[k] = v;
    }
  }
  validateTrainConfig(cfg);
  return cfg;
}

/** Checks a complete config (types and ranges, as the file parser does for each key). */
export function validateTrainConfig(cfg: TrainConfig): void {
  const byField = new Map<string, [string, KeySpec]>();
  for (const [key, spec] of Object.entries(KEYS)) if (!byField.has(spec.field)) byField.set(spec.field, [key, spec]);
  for (const [field, [key, spec]] of byField) {
    const v = (cfg as unknown as Record<string, unknown>)[field];
    if (spec.kind.t === 'path') {
      if (v !== null && typeof v !== 'string') throw new TrainConfigError(`'${key}' must be a path or null`);
      continue;
    }
    if (key === 'warmup_steps') {
      if (!Number.isInteger(v) || (v as number) < 0) throw new TrainConfigError(`'warmup_steps' must be a non-negative integer, got ${describe(v)}`);
      continue;
    }
    coerce(key, spec.kind, v, 'training option');
  }
  if (cfg.numSteps === null && cfg.numTrainEpochs === null) {
    throw new TrainConfigError("give the training length: 'num_steps' (optimizer updates) or 'num_train_epochs'");
  }
  if (cfg.numTrainEpochs !== null && cfg.numTrainEpochs <= 0 && cfg.numSteps === null) {
    throw new TrainConfigError(`'num_train_epochs' must be > 0, got ${cfg.numTrainEpochs}`);
  }
}

/** The config under upstream's key names (written into checkpoints' trainer_state.json). */
export function trainConfigToJson(cfg: TrainConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const written = new Set<string>();
  for (const [key, spec] of Object.entries(KEYS)) {
    if (written.has(spec.field)) continue; // first key of a field is its canonical name
    written.add(spec.field);
    out[key] = cfg[spec.field];
  }
  out.freeze_components = cfg.freezeTextEncoder ? ['text_encoder'] : null;
  return { ...out, ...cfg.model };
}
