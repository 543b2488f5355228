/**
 * Checkpoint merging ("model soups", Wortsman et al. 2022): the weights of fine-tunes of the
 * same model averaged element-wise into one model.
 *
 *   uniform   mean of all checkpoints
 *   weighted  sum_i w_i * theta_i with the given weights (normalised to sum 1)
 *   greedy    the greedy soup: checkpoints sorted by their own dev F1, best first; each is added
 *             to the soup only if the soup's dev F1 does not drop
 *
 * Checkpoints must share the architecture (the network keys of gliner_config.json and the encoder
 * config), the tokenizer (same vocabulary files) and every tensor's name, shape and dtype;
 * anything else is refused with the first difference named. Sums are accumulated in float64,
 * one checkpoint in memory at a time, and rounded to float32 once.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { GLINER_CONFIG_FILE, readJsonFile, readModelWeights } from '../io/model-dir';
import { HostTensor, StoredDtype, TensorMap, isFloatDtype } from '../io/host-tensor';
import { writeSafetensors } from '../io/safetensors';
import { writeFileAtomic, writeFolderAtomic } from '../io/atomic-write';
import { FileSet, MODEL_FILE, TOKENIZER_FILES, jsonBytes, readTokenizerFiles } from './checkpoint';

export class MergeError extends Error {
  readonly code: string;
  constructor(message: string, code = 'MERGE_INCOMPATIBLE') {
    super(message);
    this.name = 'MergeError';
    this.code = code;
  }
}

export type MergeMode = 'uniform' | 'weighted' | 'greedy';

/** gliner_config.json keys that define the network (others, like max_len, may differ). */
const ARCHITECTURE_KEYS = [
  'model_type', 'span_mode', 'hidden_size', 'max_width', 'num_rnn_layers', 'subtoken_pooling', 'ent_token', 'sep_token',
  'class_token_index', 'embed_ent_token', 'vocab_size', 'fuse_layers', 'post_fusion_schema', 'num_post_fusion_layers', 'labels_encoder',
  'labels_decoder', 'represent_spans',
];
/** encoder_config keys that never change the weights' meaning. */
const ENCODER_IGNORED = new Set(['_name_or_path', 'transformers_version', 'architectures', 'torch_dtype', 'hidden_dropout_prob', 'attention_probs_dropout_prob', 'pooler_dropout', 'id2label', 'label2id', 'output_hidden_states', 'output_attentions', 'return_dict', 'use_cache']);
/** Files that define the vocabulary: they must be identical. */
const VOCAB_FILES = ['spm.model', 'tokenizer.json', 'added_tokens.json'];

export interface MergeSource {
  dir: string;
  /** gliner_config.json as read. */
  config: Record<string, unknown>;
  /** sha256 of each vocabulary file present. */
  vocab: Record<string, string>;
}

/** The config and tokenizer fingerprint of a model folder (weights are read later, one at a time). */
export function readMergeSource(dir: string): MergeSource {
  const file = path.join(dir, GLINER_CONFIG_FILE);
  if (!fs.existsSync(file)) throw new MergeError(`${dir}: not a GLiNER model folder (no ${GLINER_CONFIG_FILE})`, 'MERGE_NOT_A_MODEL');
  const config = readJsonFile(file) as Record<string, unknown>;
  const vocab: Record<string, string> = {};
  for (const name of VOCAB_FILES) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) vocab[name] = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
  }
  if (!vocab['spm.model'] && !vocab['tokenizer.json']) throw new MergeError(`${dir}: no tokenizer files (spm.model or tokenizer.json)`, 'MERGE_NOT_A_MODEL');
  return { dir, config, vocab };
}

const show = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v));

/** Throws a MergeError naming the first architecture or tokenizer difference from `sources[0]`. */
export function checkMergeable(sources: readonly MergeSource[]): void {
  const [ref, ...rest] = sources;
  for (const s of rest) {
    for (const k of ARCHITECTURE_KEYS) {
      if (JSON.stringify(s.config[k]) !== JSON.stringify(ref.config[k])) {
        throw new MergeError(`cannot merge ${s.dir} with ${ref.dir}: different architectures ('${k}' is ${show(s.config[k])} vs ${show(ref.config[k])})`);
      }
    }
    const ea = (ref.config.encoder_config ?? {}) as Record<string, unknown>;
    const eb = (s.config.encoder_config ?? {}) as Record<string, unknown>;
    for (const k of new Set([...Object.keys(ea), ...Object.keys(eb)])) {
      if (ENCODER_IGNORED.has(k)) continue;
      if (JSON.stringify(ea[k]) !== JSON.stringify(eb[k])) {
        throw new MergeError(`cannot merge ${s.dir} with ${ref.dir}: different architectures (encoder_config '${k}' is ${show(eb[k])} vs ${show(ea[k])})`);
      }
    }
    for (const f of VOCAB_FILES) {
      if (s.vocab[f] !== ref.vocab[f]) {
        throw new MergeError(`cannot merge ${s.dir} with ${ref.dir}: different tokenizers (${f} ${s.vocab[f] ? 'differs' : 'is missing'}${ref.vocab[f] ? '' : ' from the first'})`);
      }
    }
  }
}

/** Running weighted sum of checkpoints in float64, tensor by tensor. */
export class WeightSum {
  private readonly sums = new Map<string, Float64Array>();
  private readonly layout = new Map<string, { dtype: StoredDtype; shape: number[] }>();
  private readonly exact = new Map<string, HostTensor>();
  private total = 0;
  private firstDir = '';

  /** Add `weight` * the checkpoint's tensors; shapes, names and dtypes must match earlier ones. */
  add(weights: TensorMap, weight: number, dir: string): void {
    if (this.layout.size === 0) {
      this.firstDir = dir;
      for (const [name, t] of weights) {
        this.layout.set(name, { dtype: t.dtype, shape: [...t.shape] });
        if (isFloatDtype(t.dtype)) this.sums.set(name, new Float64Array(t.data.length));
        else this.exact.set(name, t);
      }
    } else {
      for (const name of this.layout.keys()) if (!weights.has(name)) throw new MergeError(`cannot merge ${dir} with ${this.firstDir}: tensor '${name}' is missing`);
      for (const [name, t] of weights) {
        const l = this.layout.get(name);
        if (!l) throw new MergeError(`cannot merge ${dir} with ${this.firstDir}: tensor '${name}' is not in ${this.firstDir}`);
        if (l.shape.join(',') !== t.shape.join(',')) throw new MergeError(`cannot merge ${dir} with ${this.firstDir}: tensor '${name}' has shape [${t.shape}] vs [${l.shape}]`);
        if (isFloatDtype(l.dtype) !== isFloatDtype(t.dtype)) throw new MergeError(`cannot merge ${dir} with ${this.firstDir}: tensor '${name}' is ${t.dtype} vs ${l.dtype}`);
        const e = this.exact.get(name);
        if (e && !t.data.every((v, i) => v === e.data[i])) throw new MergeError(`cannot merge ${dir} with ${this.firstDir}: integer tensor '${name}' differs`);
      }
    }
    for (const [name, sum] of this.sums) {
      const x = weights.get(name)!.data;
      for (let i = 0; i < sum.length; i++) sum[i] += weight * x[i];
    }
    this.total += weight;
  }

  clone(): WeightSum {
    const c = new WeightSum();
    for (const [k, v] of this.sums) c.sums.set(k, Float64Array.from(v));
    for (const [k, v] of this.layout) c.layout.set(k, v);
    for (const [k, v] of this.exact) c.exact.set(k, v);
    c.total = this.total;
    c.firstDir = this.firstDir;
    return c;
  }

  /** sum / total weight as float32 tensors. */
  mean(): TensorMap {
    if (this.total <= 0) throw new MergeError('nothing to average', 'MERGE_EMPTY');
    const out: TensorMap = new Map();
    for (const [name, l] of this.layout) {
      const sum = this.sums.get(name);
      if (!sum) {
        out.set(name, this.exact.get(name)!);
        continue;
      }
      const data = new Float32Array(sum.length);
      for (let i = 0; i < sum.length; i++) data[i] = sum[i] / this.total;
      out.set(name, { dtype: 'F32', shape: l.shape, data });
    }
    return out;
  }
}

export interface MergeOptions {
  mode?: MergeMode;
  /** One weight per model (weighted mode); non-negative, not all zero. */
  weights?: readonly number[];
  /**
   * Dev F1 of a candidate's weights (greedy mode; the caller loads them into a model and
   * evaluates). Called once per checkpoint, then once per soup tried.
   */
  score?: (weights: TensorMap, what: string) => Promise<number>;
  onProgress?: (message: string) => void;
}

export interface MergeResult {
  weights: TensorMap;
  mode: MergeMode;
  /** The checkpoints in the result and their normalised weights. */
  used: { dir: string; weight: number }[];
  /** Greedy mode: every checkpoint's own F1, and the soup's F1 after each try. */
  individual?: { dir: string; f1: number }[];
  steps?: { dir: string; f1: number; kept: boolean }[];
  f1?: number;
}

/** Average compatible checkpoints (see the module comment). */
export async function mergeCheckpoints(dirs: readonly string[], options: MergeOptions = {}): Promise<MergeResult> {
  const mode = options.mode ?? (options.weights ? 'weighted' : 'uniform');
  const log = options.onProgress ?? (() => {});
  if (dirs.length < 2 && mode !== 'greedy') throw new MergeError('give at least two models to merge', 'MERGE_USAGE');
  if (dirs.length < 1) throw new MergeError('give at least one model', 'MERGE_USAGE');
  const sources = dirs.map(readMergeSource);
  checkMergeable(sources);
  const load = async (dir: string) => (await readModelWeights(dir)).weights;

  if (mode !== 'greedy') {
    let w = dirs.map(() => 1);
    if (mode === 'weighted') {
      if (!options.weights || options.weights.length !== dirs.length) throw new MergeError(`give one weight per model (${dirs.length}), got ${options.weights?.length ?? 0}`, 'MERGE_USAGE');
      if (options.weights.some((x) => !Number.isFinite(x) || x < 0) || options.weights.every((x) => x === 0)) {
        throw new MergeError(`weights must be non-negative numbers, not all zero; got ${options.weights.join(', ')}`, 'MERGE_USAGE');
      }
      w = [...options.weights];
    }
    const total = w.reduce((a, b) => a + b, 0);
    const sum = new WeightSum();
    for (let i = 0; i < dirs.length; i++) {
      log(`adding ${dirs[i]} (weight ${(w[i] / total).toFixed(4)})`);
      sum.add(await load(dirs[i]), w[i] / total, dirs[i]);
    }
    return { weights: sum.mean(), mode, used: dirs.map((dir, i) => ({ dir, weight: w[i] / total })) };
  }

  if (!options.score) throw new MergeError('greedy soup needs evaluation data (--eval-data)', 'MERGE_USAGE');
  if (options.weights) throw new MergeError('greedy soup averages uniformly; --weights cannot be used with it', 'MERGE_USAGE');
  const individual: { dir: string; f1: number }[] = [];
  for (const dir of dirs) {
    const f1 = await options.score(await load(dir), dir);
    log(`${dir}: dev F1 ${f1.toFixed(4)}`);
    individual.push({ dir, f1 });
  }
  // best first; ties keep the order given
  const order = individual.map((x, i) => ({ ...x, i })).sort((a, b) => b.f1 - a.f1 || a.i - b.i);
  let soup = new WeightSum();
  soup.add(await load(order[0].dir), 1, order[0].dir);
  let soupF1 = order[0].f1;
  const used = [order[0].dir];
  const steps: { dir: string; f1: number; kept: boolean }[] = [{ dir: order[0].dir, f1: soupF1, kept: true }];
  for (const next of order.slice(1)) {
    const trial = soup.clone();
    trial.add(await load(next.dir), 1, next.dir);
    const f1 = await options.score(trial.mean(), `soup + ${next.dir}`);
    const kept = f1 >= soupF1;
    log(`soup of ${used.length + 1} with ${next.dir}: dev F1 ${f1.toFixed(4)} (${kept ? 'kept' : `dropped: the soup has ${soupF1.toFixed(4)}`})`);
    steps.push({ dir: next.dir, f1, kept });
    if (kept) {
      soup = trial;
      soupF1 = f1;
      used.push(next.dir);
    }
  }
  return { weights: soup.mean(), mode, used: used.map((dir) => ({ dir, weight: 1 / used.length })), individual, steps, f1: soupF1 };
}

/**
 * Write a merged model folder atomically: the first model's config and tokenizer files, the
 * merged weights, and merge.json (the recipe and its scores).
 */
export async function writeMergedModel(output: string, firstDir: string, result: MergeResult): Promise<string> {
  const configBytes = fs.readFileSync(path.join(firstDir, GLINER_CONFIG_FILE));
  const tokenizer: FileSet = readTokenizerFiles(firstDir);
  return writeFolderAtomic(output, async (tmp) => {
    await writeFileAtomic(path.join(tmp, GLINER_CONFIG_FILE), configBytes);
    await writeFileAtomic(path.join(tmp, MODEL_FILE), writeSafetensors(result.weights, { format: 'pt' }));
    for (const name of TOKENIZER_FILES) {
      const b = tokenizer.get(name);
      if (b) await writeFileAtomic(path.join(tmp, name), b);
    }
    const { weights: _w, ...recipe } = result;
    await writeFileAtomic(path.join(tmp, 'merge.json'), jsonBytes(recipe));
  });
}
