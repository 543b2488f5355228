/** The DeBERTa-v2/v3 encoder config (`config.json`, or `encoder_config` inside `gliner_config.json`). */
import { validateEncoderConfig } from '../config-validation';
import { Field, readFields, writeFields } from '../config-fields';

export interface DebertaV2Config {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  hiddenAct: 'gelu';
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  layerNormEps: number;
  relativeAttention: boolean;
  /** Already resolved: -1 or less in the file means maxPositionEmbeddings. */
  maxRelativePositions: number;
  positionBuckets: number;
  posAttType: ('c2p' | 'p2c')[];
  shareAttKey: boolean;
  normRelEbd: string;
  positionBiasedInput: boolean;
  embeddingSize: number;
  padTokenId: number;
}

type Json = Record<string, unknown>;

/** config.json keys of a DeBERTa-v2/v3 encoder with transformers' defaults; parses and writes (see config-fields.ts). */
export const DEBERTA_FIELDS: readonly Field<DebertaV2Config>[] = [
  { key: 'vocab_size', prop: 'vocabSize', type: 'int', default: 128100 },
  { key: 'hidden_size', prop: 'hiddenSize', type: 'int', default: 1536 },
  { key: 'num_hidden_layers', prop: 'numHiddenLayers', type: 'int', default: 24 },
  { key: 'num_attention_heads', prop: 'numAttentionHeads', type: 'int', default: 24 },
  { key: 'intermediate_size', prop: 'intermediateSize', type: 'int', default: 6144 },
  { key: 'hidden_act', prop: 'hiddenAct', type: 'string', default: 'gelu', oneOf: ['gelu'] },
  { key: 'hidden_dropout_prob', prop: 'hiddenDropoutProb', type: 'number', default: 0.1 },
  { key: 'attention_probs_dropout_prob', prop: 'attentionProbsDropoutProb', type: 'number', default: 0.1 },
  { key: 'max_position_embeddings', prop: 'maxPositionEmbeddings', type: 'int', default: 512 },
  { key: 'type_vocab_size', prop: 'typeVocabSize', type: 'int', default: 0 },
  { key: 'layer_norm_eps', prop: 'layerNormEps', type: 'number', default: 1e-7 },
  { key: 'relative_attention', prop: 'relativeAttention', type: 'boolean', default: false },
  {
    // -1 or less means max_position_embeddings (resolved here, written resolved).
    key: 'max_relative_positions', prop: 'maxRelativePositions', type: 'int', default: -1,
    read: (v, raw) => ((v as number) < 1 ? (raw.max_position_embeddings as number | undefined) ?? 512 : v),
  },
  { key: 'position_buckets', prop: 'positionBuckets', type: 'int', default: -1 },
  {
    // Old configs write "p2c|c2p" as one string.
    key: 'pos_att_type', prop: 'posAttType', type: 'any', default: [],
    read: (v, _raw, source) => {
      const list = typeof v === 'string' ? v.toLowerCase().split('|').map((x) => x.trim()) : v;
      if (!Array.isArray(list)) throw new Error(`${source}: pos_att_type must be a list`);
      for (const p of list) {
        if (p !== 'c2p' && p !== 'p2c') throw new Error(`${source}: pos_att_type entry '${String(p)}' is not supported (c2p, p2c)`);
      }
      return list;
    },
  },
  { key: 'share_att_key', prop: 'shareAttKey', type: 'boolean', default: false },
  { key: 'norm_rel_ebd', prop: 'normRelEbd', type: 'string', default: 'none', read: (v) => String(v).toLowerCase() },
  { key: 'position_biased_input', prop: 'positionBiasedInput', type: 'boolean', default: true },
  { key: 'pad_token_id', prop: 'padTokenId', type: 'int', default: 0 },
  {
    key: 'embedding_size', prop: 'embeddingSize', type: 'int', default: (raw: Json) => raw.hidden_size ?? 1536,
    write: (v, c) => (v !== c.hiddenSize ? v : undefined),
  },
];

/**
 * Parse a DebertaV2 config with transformers' defaults for absent keys. `source` names the file
 * (and JSON path) in errors.
 */
export function parseDebertaConfig(raw: unknown, source: string): DebertaV2Config {
  validateEncoderConfig(raw, source);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${source}: encoder config must be a JSON object`);
  const r = raw as Json;
  const modelType = r.model_type;
  if (modelType !== undefined && modelType !== 'deberta-v2') {
    throw new Error(`${source}: model_type '${String(modelType)}' is not supported (only deberta-v2 / DeBERTa-v3 encoders)`);
  }
  const cfg = readFields(DEBERTA_FIELDS, r, source) as DebertaV2Config;
  if (cfg.hiddenSize % cfg.numAttentionHeads !== 0) {
    throw new Error(`${source}: hidden_size ${cfg.hiddenSize} is not divisible by num_attention_heads ${cfg.numAttentionHeads}`);
  }
  if (cfg.relativeAttention && !cfg.shareAttKey && cfg.posAttType.length > 0) {
    // DeBERTa-v2 (not v3) checkpoints with separate positional projections; no GLiNER uses them.
    throw new Error(`${source}: share_att_key=false is not supported (all DeBERTa-v3 / mDeBERTa-v3 encoders share keys)`);
  }
  const conv = r.conv_kernel_size;
  if (typeof conv === 'number' && conv > 0) throw new Error(`${source}: conv_kernel_size > 0 (DeBERTa-v2-xlarge style) is not supported`);
  return cfg;
}

/** Serialise back to transformers' key names (for checkpoints we write). */
export function debertaConfigToJson(c: DebertaV2Config): Record<string, unknown> {
  return { model_type: 'deberta-v2', ...writeFields(DEBERTA_FIELDS, c) };
}
