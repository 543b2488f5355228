/** The DeBERTa-v2/v3 encoder config (`config.json`, or `encoder_config` inside `gliner_config.json`). */
import { validateEncoderConfig } from '../config-validation';

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

function num(raw: Json, key: string, fallback: number | undefined, source: string): number {
  const v = raw[key];
  if (v === undefined || v === null) {
    if (fallback === undefined) throw new Error(`${source}: missing required key '${key}'`);
    return fallback;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${source}: key '${key}' must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function bool(raw: Json, key: string, fallback: boolean, source: string): boolean {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new Error(`${source}: key '${key}' must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

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
  const hiddenAct = r.hidden_act ?? 'gelu';
  if (hiddenAct !== 'gelu') throw new Error(`${source}: hidden_act '${String(hiddenAct)}' is not supported (only 'gelu')`);
  const maxPositionEmbeddings = num(r, 'max_position_embeddings', 512, source);
  let maxRel = num(r, 'max_relative_positions', -1, source);
  if (maxRel < 1) maxRel = maxPositionEmbeddings;
  let posAtt = r.pos_att_type ?? [];
  // Old configs write "p2c|c2p" as one string.
  if (typeof posAtt === 'string') posAtt = posAtt.toLowerCase().split('|').map((s) => s.trim());
  if (!Array.isArray(posAtt)) throw new Error(`${source}: pos_att_type must be a list`);
  for (const p of posAtt) {
    if (p !== 'c2p' && p !== 'p2c') throw new Error(`${source}: pos_att_type entry '${String(p)}' is not supported (c2p, p2c)`);
  }
  const hiddenSize = num(r, 'hidden_size', 1536, source);
  const numHeads = num(r, 'num_attention_heads', 24, source);
  if (hiddenSize % numHeads !== 0) throw new Error(`${source}: hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads}`);
  const cfg: DebertaV2Config = {
    vocabSize: num(r, 'vocab_size', 128100, source),
    hiddenSize,
    numHiddenLayers: num(r, 'num_hidden_layers', 24, source),
    numAttentionHeads: numHeads,
    intermediateSize: num(r, 'intermediate_size', 6144, source),
    hiddenAct: 'gelu',
    hiddenDropoutProb: num(r, 'hidden_dropout_prob', 0.1, source),
    attentionProbsDropoutProb: num(r, 'attention_probs_dropout_prob', 0.1, source),
    maxPositionEmbeddings,
    typeVocabSize: num(r, 'type_vocab_size', 0, source),
    layerNormEps: num(r, 'layer_norm_eps', 1e-7, source),
    relativeAttention: bool(r, 'relative_attention', false, source),
    maxRelativePositions: maxRel,
    positionBuckets: num(r, 'position_buckets', -1, source),
    posAttType: posAtt as ('c2p' | 'p2c')[],
    shareAttKey: bool(r, 'share_att_key', false, source),
    normRelEbd: String(r.norm_rel_ebd ?? 'none').toLowerCase(),
    positionBiasedInput: bool(r, 'position_biased_input', true, source),
    embeddingSize: num(r, 'embedding_size', hiddenSize, source),
    padTokenId: num(r, 'pad_token_id', 0, source),
  };
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
  return {
    model_type: 'deberta-v2',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    intermediate_size: c.intermediateSize,
    hidden_act: c.hiddenAct,
    hidden_dropout_prob: c.hiddenDropoutProb,
    attention_probs_dropout_prob: c.attentionProbsDropoutProb,
    max_position_embeddings: c.maxPositionEmbeddings,
    type_vocab_size: c.typeVocabSize,
    layer_norm_eps: c.layerNormEps,
    relative_attention: c.relativeAttention,
    max_relative_positions: c.maxRelativePositions,
    position_buckets: c.positionBuckets,
    pos_att_type: c.posAttType,
    share_att_key: c.shareAttKey,
    norm_rel_ebd: c.normRelEbd,
    position_biased_input: c.positionBiasedInput,
    pad_token_id: c.padTokenId,
    ...(c.embeddingSize !== c.hiddenSize ? { embedding_size: c.embeddingSize } : {}),
  };
}
