/**
 * A new GLiNER model from a bare DeBERTa-v2/v3 encoder folder (config.json, model.safetensors or
 * pytorch_model.bin, spm.model / tokenizer.json + tokenizer configs), as upstream does when it
 * trains from `model_name` without `prev_path`:
 *
 *   1. tokenizer.add_tokens(["[FLERT]", ent_token, sep_token], special_tokens=True)
 *   2. class_token_index = id of ent_token (upstream: len(tokenizer) - 2)
 *   3. resize the word embeddings to len(tokenizer) (transformers' resize_token_embeddings):
 *      the first min(old, new) rows are kept, so a DeBERTa-v3 table of 128100 rows SHRINKS to
 *      128004 and the new tokens take rows that exist already; rows beyond the old table are drawn
 *      from N(mean, 1e-9 * covariance) of the old rows (transformers' mean_resizing, default on),
 *      or set to the mean when that covariance is not positive definite
 *   4. the GLiNER head (projection, BiLSTM, span and prompt FFNs) gets PyTorch's default init:
 *      Linear weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); every LSTM tensor
 *      ~ U(-1/sqrt(H), 1/sqrt(H)); drawn from a seeded generator, so a seed gives the same model.
 *
 * Encoder weights may be named as in DebertaV2Model (`embeddings.word_embeddings.weight`,
 * `encoder.layer.0...`) or with a `deberta.` prefix (DebertaV2ForMaskedLM & co.); keys the model
 * does not use (lm heads, position_ids) are listed in `unusedKeys`.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { GlinerConfig, parseGlinerConfig } from '../config';
import { parseDebertaConfig } from '../deberta/config';
import { GLiNER } from '../gliner';
import { GlinerModel } from '../model';
import { Linear } from '../layers/linear';
import { BiLSTM } from '../layers/lstm';
import { Module } from '../layers/module';
import { BackendPreference, initBackend } from '../backend';
import { TensorMap, floatData } from '../io/host-tensor';
import { findWeightsFile, readJsonFile } from '../io/model-dir';
import { readWeightsFile } from '../io/weights-file';
import { loadTokenizerFromDir } from '../io/tokenizer-files';
import { DebertaV2Tokenizer } from '../tokenizer/deberta-tokenizer';
import { Rng } from './data';
import { FileSet, TOKENIZER_FILES, jsonBytes, writeCheckpointFolder } from './checkpoint';

export const ENCODER_PREFIX = 'token_rep_layer.bert_layer.model.';

export interface FreshModelOptions {
  /** GLiNER width (upstream GLiNERConfig default 512). */
  hiddenSize?: number;
  /** Longest span in words (default 12). */
  maxWidth?: number;
  /** Head dropout (default 0.4). */
  dropout?: number;
  maxLen?: number;
  maxTypes?: number;
  maxNegTypeRatio?: number;
  /** Name recorded as `model_name` (default: the encoder config's _name_or_path, else the folder name). */
  modelName?: string;
  entToken?: string;
  sepToken?: string;
  /** Seed for the head initialisation and new embedding rows. Default 42. */
  seed?: number;
  backend?: BackendPreference;
  onWarning?: (message: string) => void;
}

export interface FreshModel {
  gliner: GLiNER;
  /** Tokenizer files of the new model (with the added tokens), for checkpoints. */
  tokenizerFiles: FileSet;
  /** Tokens added to the tokenizer. */
  addedTokens: string[];
  /** Rows of the word-embedding table before and after resizing. */
  vocab: { from: number; to: number };
  /** Keys of the encoder checkpoint that the model does not use. */
  unusedKeys: string[];
}

/** Standard normals from a uniform generator (Box-Muller, both outputs used). */
class Normal {
  private spare: number | null = null;
  constructor(private readonly rng: Rng) {}
  next(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.rng.nextFloat();
    const v = this.rng.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

/** Lower Cholesky factor of a symmetric n x n matrix (float64), or null if not positive definite. */
export function cholesky(a: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * n + j];
      for (let k = 0; k < j; k++) sum -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        if (!(sum > 0)) return null;
        l[i * n + i] = Math.sqrt(sum);
      } else {
        l[i * n + j] = sum / l[j * n + j];
      }
    }
  }
  return l;
}

/**
 * transformers' resize_token_embeddings with mean_resizing: keep the first min(V, newRows) rows;
 * new rows ~ N(mean, 1e-9 cov) of the old rows (cov computed in float32 as HF does), or the mean.
 */
export function resizeEmbeddingRows(table: Float32Array, rows: number, dim: number, newRows: number, rng: Rng): Float32Array {
  const out = new Float32Array(newRows * dim);
  out.set(table.subarray(0, Math.min(rows, newRows) * dim));
  const added = newRows - rows;
  if (added <= 0) return out;
  const { mean, cov } = tf.tidy(() => {
    const w = tf.tensor2d(table, [rows, dim]);
    const m = w.mean(0);
    const c = w.sub(m);
    return { mean: m.dataSync() as Float32Array, cov: tf.matMul(c, c, true, false).div(rows).dataSync() as Float32Array };
  });
  const scaled = Float64Array.from(cov, (x) => 1e-9 * x);
  const l = cholesky(scaled, dim);
  const normal = new Normal(rng);
  const z = new Float64Array(dim);
  for (let r = 0; r < added; r++) {
    const row = out.subarray((rows + r) * dim, (rows + r + 1) * dim);
    if (!l) {
      row.set(mean);
      continue;
    }
    for (let j = 0; j < dim; j++) z[j] = normal.next();
    for (let i = 0; i < dim; i++) {
      let acc = mean[i];
      for (let k = 0; k <= i; k++) acc += l[i * dim + k] * z[k];
      row[i] = acc;
    }
  }
  return out;
}

/** PyTorch's default initialisation for the head parameters (see the file comment). */
function initHead(model: GlinerModel, rng: Rng): TensorMap {
  const out: TensorMap = new Map();
  for (const [name, p] of model.namedParameters()) {
    if (name.startsWith(ENCODER_PREFIX)) continue;
    const owner: Module = model.child(name.slice(0, name.lastIndexOf('.')));
    let bound: number;
    if (owner instanceof Linear) bound = 1 / Math.sqrt(owner.inFeatures);
    else if (owner instanceof BiLSTM) bound = 1 / Math.sqrt(owner.hiddenSize);
    else throw new Error(`internal: no initialisation rule for '${name}'`);
    const n = p.layout.storedShape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (2 * rng.nextFloat() - 1) * bound;
    out.set(name, { dtype: 'F32', shape: [...p.layout.storedShape], data });
  }
  return out;
}

function readJsonObject(file: string): Record<string, unknown> | undefined {
  if (!fs.existsSync(file)) return undefined;
  const v = readJsonFile(file);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${file}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/**
 * The tokenizer files of the new model: the subword model copied, the JSON files extended with
 * the added tokens (as transformers' save_pretrained would write them after add_tokens).
 */
function tokenizerFilesWithAdded(dir: string, tokenizer: DebertaV2Tokenizer): FileSet {
  const files: FileSet = new Map();
  for (const name of TOKENIZER_FILES) {
    if (name === 'spm.model' || name === 'tokenizer.json') {
      const p = path.join(dir, name);
      if (fs.existsSync(p)) files.set(name, fs.readFileSync(p));
    }
  }
  const added = tokenizer.addedTokens();
  // added_tokens.json lists the tokens beyond the subword vocabulary.
  const addedJson: Record<string, number> = {};
  for (const t of added) if (t.id >= tokenizer.model.pieceCount) addedJson[t.content] = t.id;
  files.set('added_tokens.json', jsonBytes(addedJson));
  const sp = tokenizer.specialTokens;
  // DebertaV2Tokenizer's special tokens, as special_tokens_map.json and tokenizer_config.json list them
  const specials = {
    bos_token: sp.cls,
    eos_token: sp.sep,
    cls_token: sp.cls,
    sep_token: sp.sep,
    pad_token: sp.pad,
    unk_token: sp.unk,
    mask_token: sp.mask,
  };
  const config = readJsonObject(path.join(dir, 'tokenizer_config.json')) ?? {
    ...specials,
    do_lower_case: false,
    split_by_punct: false,
    vocab_type: 'spm',
    tokenizer_class: 'DebertaV2Tokenizer',
  };
  const decoder: Record<string, unknown> = { ...((config.added_tokens_decoder as Record<string, unknown> | undefined) ?? {}) };
  for (const t of added) {
    if (decoder[String(t.id)] !== undefined) continue;
    decoder[String(t.id)] = { content: t.content, lstrip: t.lstrip, normalized: false, rstrip: t.rstrip, single_word: false, special: t.special };
  }
  const sortedDecoder = Object.fromEntries(Object.entries(decoder).sort((a, b) => Number(a[0]) - Number(b[0])));
  files.set('tokenizer_config.json', jsonBytes({ ...config, added_tokens_decoder: sortedDecoder }));
  const map = readJsonObject(path.join(dir, 'special_tokens_map.json')) ?? specials;
  files.set('special_tokens_map.json', jsonBytes(map));
  return files;
}

/** The prefix under which an encoder checkpoint stores DebertaV2Model's weights. */
function encoderKeyPrefix(weights: TensorMap, file: string): string {
  for (const p of ['', 'deberta.', 'model.', 'encoder.deberta.']) {
    if (weights.has(`${p}embeddings.word_embeddings.weight`)) return p;
  }
  throw new Error(`${file}: no 'embeddings.word_embeddings.weight' (or 'deberta.embeddings.word_embeddings.weight'): not a DeBERTa encoder checkpoint`);
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}

/** Build a GLiNER model (in memory) from a bare encoder folder. */
export async function createFreshModel(encoderDir: string, options: FreshModelOptions = {}): Promise<FreshModel> {
  const warn = options.onWarning ?? ((m: string) => console.warn(`gliner-tf: ${m}`));
  const configFile = path.join(encoderDir, 'config.json');
  if (!fs.existsSync(configFile)) throw new Error(`${encoderDir}: not an encoder folder (no config.json)`);
  const encoderJson = readJsonFile(configFile) as Record<string, unknown>;
  const encoder = parseDebertaConfig(encoderJson, configFile);
  const hiddenSize = positiveInt(options.hiddenSize ?? 512, 'hidden_size');
  const maxWidth = positiveInt(options.maxWidth ?? 12, 'max_width');
  const dropout = options.dropout ?? 0.4;
  if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`dropout must be in [0, 1), got ${dropout}`);
  const entToken = options.entToken ?? '<<ENT>>';
  const sepToken = options.sepToken ?? '<<SEP>>';
  const seed = options.seed ?? 42;
  const backend = await initBackend(options.backend ?? 'auto');

  // 1-2: tokens, as upstream's _get_special_tokens order
  const tokenizer = loadTokenizerFromDir(encoderDir);
  const before = tokenizer.vocabSize;
  const wanted = ['[FLERT]', entToken, sepToken];
  tokenizer.addTokens(wanted, true);
  const vocab = tokenizer.vocabSize;
  const classTokenIndex = tokenizer.tokenToId(entToken)!;
  const addedTokens = wanted.filter((t, i) => wanted.indexOf(t) === i && tokenizer.tokenToId(t)! >= before);

  // 3: encoder weights, word embeddings resized
  const weightsFile = findWeightsFile(encoderDir);
  const source = await readWeightsFile(weightsFile);
  const prefix = encoderKeyPrefix(source, weightsFile);
  const rng = new Rng(seed);
  const weights: TensorMap = new Map();
  const used = new Set<string>();
  for (const [key, t] of source) {
    if (!key.startsWith(prefix)) continue;
    weights.set(ENCODER_PREFIX + key.slice(prefix.length), t);
    used.add(key);
  }
  const wordKey = `${ENCODER_PREFIX}embeddings.word_embeddings.weight`;
  const table = weights.get(wordKey)!;
  const [rows, dim] = table.shape;
  if (rows !== encoder.vocabSize) warn(`${weightsFile}: word embeddings have ${rows} rows but config.json says vocab_size ${encoder.vocabSize}; using the weights`);
  weights.set(wordKey, { dtype: 'F32', shape: [vocab, dim], data: resizeEmbeddingRows(floatData(table, wordKey), rows, dim, vocab, rng) });
  if (vocab < rows) warn(`word embeddings cut from ${rows} to ${vocab} rows (len(tokenizer)), as transformers' resize_token_embeddings does`);

  // the GLiNER config, with upstream GLiNERConfig's defaults
  const raw: Record<string, unknown> = {
    model_type: 'gliner_uni_encoder_span',
    model_name: options.modelName ?? (typeof encoderJson._name_or_path === 'string' && encoderJson._name_or_path ? encoderJson._name_or_path : path.basename(path.resolve(encoderDir))),
    name: 'gliner',
    max_width: maxWidth,
    hidden_size: hiddenSize,
    dropout,
    fine_tune: true,
    subtoken_pooling: 'first',
    span_mode: 'markerV0',
    post_fusion_schema: '',
    num_post_fusion_layers: 1,
    vocab_size: vocab,
    max_neg_type_ratio: options.maxNegTypeRatio ?? 1,
    max_types: positiveInt(options.maxTypes ?? 25, 'max_types'),
    max_len: positiveInt(options.maxLen ?? 384, 'max_len'),
    words_splitter_type: 'whitespace',
    num_rnn_layers: 1,
    fuse_layers: false,
    embed_ent_token: true,
    class_token_index: classTokenIndex,
    encoder_config: { ...encoderJson, vocab_size: vocab },
    ent_token: entToken,
    sep_token: sepToken,
    _attn_implementation: null,
    token_loss_coef: 1.0,
    span_loss_coef: 1.0,
    represent_spans: false,
    neg_spans_ratio: 1.0,
  };
  const config: GlinerConfig = parseGlinerConfig(raw, 'new GLiNER config');
  const model = new GlinerModel(config);
  try {
    // 4: the head
    for (const [k, t] of initHead(model, rng)) weights.set(k, t);
    const { unexpected } = model.loadWeights(weights, weightsFile);
    const unusedKeys = [...source.keys()].filter((k) => !used.has(k)).concat(unexpected.map((k) => prefix + k.slice(ENCODER_PREFIX.length)));
    const gliner = new GLiNER(config, model, tokenizer, backend, { onWarning: warn });
    return { gliner, tokenizerFiles: tokenizerFilesWithAdded(encoderDir, tokenizer), addedTokens, vocab: { from: rows, to: vocab }, unusedKeys };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** Build a fresh model and write it as a GLiNER folder (atomically); returns the model too. */
export async function writeFreshModel(encoderDir: string, outDir: string, options: FreshModelOptions = {}): Promise<FreshModel> {
  const fresh = await createFreshModel(encoderDir, options);
  try {
    await writeCheckpointFolder(outDir, { config: fresh.gliner.config, weights: fresh.gliner.model.exportWeights(), tokenizerFiles: fresh.tokenizerFiles });
  } catch (e) {
    fresh.gliner.dispose();
    throw e;
  }
  return fresh;
}

/** Fresh-model options from upstream's model-definition keys (train config `model` section). */
export function freshModelOptionsFromKeys(keys: Record<string, unknown>): FreshModelOptions {
  const o: FreshModelOptions = {};
  const numKey = (k: string): number | undefined => {
    const v = keys[k];
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'string' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new Error(`model key '${k}' must be a number, got ${JSON.stringify(v)}`);
    return n;
  };
  o.hiddenSize = numKey('hidden_size');
  o.maxWidth = numKey('max_width');
  o.dropout = numKey('dropout');
  if (typeof keys.model_name === 'string') o.modelName = keys.model_name;
  if (typeof keys.ent_token === 'string') o.entToken = keys.ent_token;
  if (typeof keys.sep_token === 'string') o.sepToken = keys.sep_token;
  const check = (k: string, ok: (v: unknown) => boolean, what: string) => {
    if (keys[k] !== undefined && keys[k] !== null && !ok(keys[k])) throw new Error(`model key '${k}' = ${JSON.stringify(keys[k])} is not supported (${what})`);
  };
  check('span_mode', (v) => v === 'markerV0', "only 'markerV0'");
  check('subtoken_pooling', (v) => v === 'first', "only 'first'");
  check('num_rnn_layers', (v) => v === 1, 'only 1');
  check('fuse_layers', (v) => v === false, 'only false');
  check('labels_encoder', () => false, 'bi-encoder models are not supported');
  check('labels_decoder', () => false, 'decoder models are not supported');
  check('embed_ent_token', (v) => v === true, 'only true');
  return o;
}
