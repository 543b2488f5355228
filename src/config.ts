/**
 * `gliner_config.json`, typed. Absent keys take upstream GLiNER's defaults so that configs
 * written by older GLiNER versions (0.1.x: gliner_base, gliner_multi, NuNER Zero, the v1/v2/v2.1
 * checkpoints) still load. GLINER_FIELDS both parses and writes the file; which encoder, head and
 * model type the values select is decided in architecture.ts.
 */
import { validateGlinerConfig } from './config-validation';
import { Field, readFields, writeFields } from './config-fields';
import {
  ENCODER_TYPES, EncoderConfig, Encoding, MODEL_TYPES, SPAN_MODES, SpanMode, encoderTypeOf, modelTypeName,
} from './architecture';

export interface GlinerConfig {
  /** Upstream's model_type, e.g. gliner_uni_encoder_span (derived from span_mode for 0.1.x configs). */
  modelType: string;
  /** Encoder checkpoint the model was built from (e.g. microsoft/deberta-v3-small); where a tokenizer can be found. */
  modelName: string;
  hiddenSize: number;
  maxWidth: number;
  maxLen: number;
  maxTypes: number;
  maxNegTypeRatio: number;
  dropout: number;
  spanMode: SpanMode;
  numRnnLayers: number;
  subtokenPooling: 'first';
  entToken: string;
  sepToken: string;
  /** Token id of `entToken`, or -1 when the config predates the key (resolved from the tokenizer). */
  classTokenIndex: number;
  embedEntToken: boolean;
  /** Rows of the (resized) word-embedding table; -1 when the config does not say. */
  vocabSize: number;
  /** 'uni' (labels in the text encoder's prompt) or 'bi' (a labels encoder). */
  encoding: Encoding;
  /** Key of ENCODER_TYPES (the encoder config's model_type), e.g. 'deberta-v2'. */
  encoderType: string;
  encoder: EncoderConfig;
  /** Every key of the file as read, so that saving keeps what we do not interpret. */
  raw: Record<string, unknown>;
}

type Json = Record<string, unknown>;

/** gliner_config.json keys with upstream's defaults, in the order we write them. */
export const GLINER_FIELDS: readonly Field<GlinerConfig>[] = [
  // Written from the architecture (see glinerConfigToJson); read and checked in parseGlinerConfig.
  { key: 'model_type', prop: 'modelType', type: 'string', default: '', write: (_v, c) => modelTypeName(c.encoding, SPAN_MODES[c.spanMode].output) },
  { key: 'model_name', prop: 'modelName', type: 'string', default: 'microsoft/deberta-v3-small' },
  { key: 'hidden_size', prop: 'hiddenSize', type: 'int', default: 512 },
  { key: 'max_width', prop: 'maxWidth', type: 'int', default: 12 },
  { key: 'max_len', prop: 'maxLen', type: 'int', default: 384 },
  { key: 'max_types', prop: 'maxTypes', type: 'int', default: 25 },
  { key: 'max_neg_type_ratio', prop: 'maxNegTypeRatio', type: 'number', default: 1 },
  { key: 'dropout', prop: 'dropout', type: 'number', default: 0.4 },
  { key: 'span_mode', prop: 'spanMode', type: 'string', default: 'markerV0', oneOf: Object.keys(SPAN_MODES) },
  { key: 'num_rnn_layers', prop: 'numRnnLayers', type: 'int', default: 1 },
  { key: 'subtoken_pooling', prop: 'subtokenPooling', type: 'string', default: 'first', oneOf: ['first'] },
  { key: 'ent_token', prop: 'entToken', type: 'string', default: '<<ENT>>' },
  { key: 'sep_token', prop: 'sepToken', type: 'string', default: '<<SEP>>' },
  { key: 'class_token_index', prop: 'classTokenIndex', type: 'int', default: -1 },
  { key: 'embed_ent_token', prop: 'embedEntToken', type: 'boolean', default: true },
  // The table was resized to the tokenizer; what we write is the encoder's actual row count.
  { key: 'vocab_size', prop: 'vocabSize', type: 'int', default: -1, write: (_v, c) => c.encoder.vocabSize },
];

/**
 * Parse a GLiNER config. `encoderRaw` is the encoder config to use when the file embeds none
 * (older checkpoints name only `model_name`; the loader then supplies that encoder's config.json).
 */
export function parseGlinerConfig(raw: unknown, source: string, encoderRaw?: unknown): GlinerConfig {
  validateGlinerConfig(raw, source, encoderRaw);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${source}: must be a JSON object`);
  const r = raw as Json;
  const fields = readFields(GLINER_FIELDS, r, source);
  const head = SPAN_MODES[fields.spanMode];
  if (r.fuse_layers !== undefined && r.fuse_layers !== null && r.fuse_layers !== false) throw new Error(`${source}: fuse_layers=true is not supported`);
  if (typeof r.post_fusion_schema === 'string' && r.post_fusion_schema !== '') {
    throw new Error(`${source}: post_fusion_schema '${r.post_fusion_schema}' is not supported (cross-fusion layers)`);
  }
  if (r.represent_spans === true) throw new Error(`${source}: represent_spans=true (token model with a span head) is not supported`);
  const labelsEncoder = r.labels_encoder;
  const encoding: Encoding = labelsEncoder !== undefined && labelsEncoder !== null ? 'bi' : 'uni';
  if (encoding === 'bi') throw new Error(`${source}: bi-encoder models (labels_encoder) are not supported`);

  // model_type must agree with span_mode (upstream picks the class from span_mode); 0.1.x configs have none.
  const expectedType = modelTypeName(encoding, head.output);
  const modelType = fields.modelType === '' || fields.modelType === 'gliner' ? expectedType : fields.modelType;
  if (!(modelType in MODEL_TYPES)) {
    throw new Error(`${source}: model_type '${modelType}' is not supported (supported: ${Object.keys(MODEL_TYPES).join(', ')})`);
  }
  if (modelType !== expectedType) {
    throw new Error(`${source}: model_type '${modelType}' does not match span_mode '${fields.spanMode}' (expected '${expectedType}')`);
  }

  const encRaw = r.encoder_config ?? encoderRaw;
  if (encRaw === undefined || encRaw === null) {
    throw new Error(`${source}: no 'encoder_config' in the file and no encoder config.json was given (model_name: ${String(r.model_name)})`);
  }
  const encSource = r.encoder_config ? `${source} (encoder_config)` : `${source} (encoder config for ${String(r.model_name)})`;
  const encoderType = encoderTypeOf(encRaw, encSource);
  const encoder = ENCODER_TYPES[encoderType].parse(encRaw, encSource);
  // The word-embedding table was resized to the tokenizer (GLiNER adds its special tokens).
  if (fields.vocabSize > 0) encoder.vocabSize = fields.vocabSize;

  return { ...fields, modelType, encoding, encoderType, encoder, raw: { ...r } } as GlinerConfig;
}

/** The config as upstream GLiNER writes it (unknown keys preserved), with the encoder config embedded. */
export function glinerConfigToJson(c: GlinerConfig): Record<string, unknown> {
  return {
    ...c.raw,
    ...writeFields(GLINER_FIELDS, c),
    encoder_config: { ...(isObj(c.raw.encoder_config) ? c.raw.encoder_config : {}), ...ENCODER_TYPES[c.encoderType].toJson(c.encoder) },
  };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
