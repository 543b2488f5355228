/**
 * `gliner_config.json`, typed. Absent keys take upstream GLiNER's defaults so that configs
 * written by older GLiNER versions (0.1.x: the published v1/v2/v2.1 checkpoints) still load.
 */
import { validateGlinerConfig } from './config-validation';
import { DebertaV2Config, debertaConfigToJson, parseDebertaConfig } from './deberta/config';

export interface GlinerConfig {
  modelType: string;
  /** Encoder checkpoint the model was built from (e.g. microsoft/deberta-v3-small); where a tokenizer can be found. */
  modelName: string;
  hiddenSize: number;
  maxWidth: number;
  maxLen: number;
  maxTypes: number;
  maxNegTypeRatio: number;
  dropout: number;
  spanMode: 'markerV0';
  numRnnLayers: number;
  subtokenPooling: 'first';
  entToken: string;
  sepToken: string;
  /** Token id of `entToken`, or -1 when the config predates the key (resolved from the tokenizer). */
  classTokenIndex: number;
  embedEntToken: boolean;
  /** Rows of the (resized) word-embedding table; -1 when the config does not say. */
  vocabSize: number;
  encoder: DebertaV2Config;
  /** Every key of the file as read, so that saving keeps what we do not interpret. */
  raw: Record<string, unknown>;
}

type Json = Record<string, unknown>;

function get<T>(raw: Json, key: string, fallback: T, check: (v: unknown) => boolean, what: string, source: string): T {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (!check(v)) throw new Error(`${source}: key '${key}' must be ${what}, got ${JSON.stringify(v)}`);
  return v as T;
}
const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown) => Number.isInteger(v);
const isStr = (v: unknown) => typeof v === 'string';
const isBool = (v: unknown) => typeof v === 'boolean';

/**
 * Parse a GLiNER config. `encoderRaw` is the encoder config to use when the file embeds none
 * (older checkpoints name only `model_name`; the loader then supplies that encoder's config.json).
 */
export function parseGlinerConfig(raw: unknown, source: string, encoderRaw?: unknown): GlinerConfig {
  validateGlinerConfig(raw, source, encoderRaw);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${source}: must be a JSON object`);
  const r = raw as Json;
  const modelType = get(r, 'model_type', 'gliner_uni_encoder_span', isStr, 'a string', source);
  // 0.1.x configs carry no model_type; any span model with one encoder is what we run.
  if (modelType !== 'gliner_uni_encoder_span' && modelType !== 'gliner') {
    throw new Error(`${source}: model_type '${modelType}' is not supported (only the uni-encoder span model, model_type 'gliner_uni_encoder_span')`);
  }
  const spanMode = get(r, 'span_mode', 'markerV0', isStr, 'a string', source);
  if (spanMode !== 'markerV0') throw new Error(`${source}: span_mode '${spanMode}' is not supported (only 'markerV0')`);
  const pooling = get(r, 'subtoken_pooling', 'first', isStr, 'a string', source);
  if (pooling !== 'first') throw new Error(`${source}: subtoken_pooling '${pooling}' is not supported (only 'first')`);
  if (get(r, 'fuse_layers', false, isBool, 'a boolean', source)) throw new Error(`${source}: fuse_layers=true is not supported`);
  const labelsEncoder = r.labels_encoder;
  if (labelsEncoder !== undefined && labelsEncoder !== null) throw new Error(`${source}: bi-encoder models (labels_encoder) are not supported`);

  const encRaw = r.encoder_config ?? encoderRaw;
  if (encRaw === undefined || encRaw === null) {
    throw new Error(`${source}: no 'encoder_config' in the file and no encoder config.json was given (model_name: ${String(r.model_name)})`);
  }
  const encoder = parseDebertaConfig(encRaw, r.encoder_config ? `${source} (encoder_config)` : `${source} (encoder config for ${String(r.model_name)})`);
  const vocabSize = get(r, 'vocab_size', -1, isInt, 'an integer', source);
  // The word-embedding table was resized to the tokenizer (GLiNER adds its special tokens).
  if (vocabSize > 0) encoder.vocabSize = vocabSize;

  return {
    modelType,
    modelName: get(r, 'model_name', 'microsoft/deberta-v3-small', isStr, 'a string', source),
    hiddenSize: get(r, 'hidden_size', 512, isInt, 'an integer', source),
    maxWidth: get(r, 'max_width', 12, isInt, 'an integer', source),
    maxLen: get(r, 'max_len', 384, isInt, 'an integer', source),
    maxTypes: get(r, 'max_types', 25, isInt, 'an integer', source),
    maxNegTypeRatio: get(r, 'max_neg_type_ratio', 1, isNum, 'a number', source),
    dropout: get(r, 'dropout', 0.4, isNum, 'a number', source),
    spanMode: 'markerV0',
    numRnnLayers: get(r, 'num_rnn_layers', 1, isInt, 'an integer', source),
    subtokenPooling: 'first',
    entToken: get(r, 'ent_token', '<<ENT>>', isStr, 'a string', source),
    sepToken: get(r, 'sep_token', '<<SEP>>', isStr, 'a string', source),
    classTokenIndex: get(r, 'class_token_index', -1, isInt, 'an integer', source),
    embedEntToken: get(r, 'embed_ent_token', true, isBool, 'a boolean', source),
    vocabSize,
    encoder,
    raw: { ...r },
  };
}

/** The config as upstream GLiNER writes it (unknown keys preserved), with the encoder config embedded. */
export function glinerConfigToJson(c: GlinerConfig): Record<string, unknown> {
  return {
    ...c.raw,
    model_type: 'gliner_uni_encoder_span',
    model_name: c.modelName,
    hidden_size: c.hiddenSize,
    max_width: c.maxWidth,
    max_len: c.maxLen,
    max_types: c.maxTypes,
    max_neg_type_ratio: c.maxNegTypeRatio,
    dropout: c.dropout,
    span_mode: c.spanMode,
    num_rnn_layers: c.numRnnLayers,
    subtoken_pooling: c.subtokenPooling,
    ent_token: c.entToken,
    sep_token: c.sepToken,
    class_token_index: c.classTokenIndex,
    embed_ent_token: c.embedEntToken,
    vocab_size: c.encoder.vocabSize,
    encoder_config: { ...(isObj(c.raw.encoder_config) ? c.raw.encoder_config : {}), ...debertaConfigToJson(c.encoder) },
  };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
