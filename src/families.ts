/**
 * The published GLiNER checkpoint families and their exact architecture, so that tools can
 * build a config (and random weights) of the real size, and recognise a model folder.
 *
 * Where each number comes from is in docs/families.md. In short:
 *  - encoder sizes: the encoders' own config.json (microsoft/deberta-v3-small/base/large,
 *    microsoft/mdeberta-v3-base);
 *  - GLiNER sizes: the gliner_config.json of each urchade/* repo (the "better version" commits);
 *  - embedding rows: the encoder tokenizer's length plus the three tokens GLiNER 0.1.x added
 *    ([FLERT], <<ENT>>, <<SEP>>), cross-checked against the published pytorch_model.bin sizes,
 *    which match the parameter counts computed here to within torch.save's per-tensor overhead.
 *
 * The published v1/v2/v2.1 configs are "old style": no model_type, no encoder_config, no
 * vocab_size, no class_token_index. `buildFamilyConfig(name, { style: 'published' })` reproduces
 * that; the default style is what a current GLiNER save_pretrained (and our writer) produces.
 */
import { GlinerConfig, glinerConfigToJson, parseGlinerConfig } from './config';
import { ParamShape } from './layers/module';
import { SpanMode } from './architecture';
import { glinerParameterShapes } from './model';

export type EncoderKey = 'deberta-v3-small' | 'deberta-v3-base' | 'deberta-v3-large' | 'mdeberta-v3-base';

export interface EncoderSpec {
  /** Hugging Face id, as GLiNER configs name it in `model_name`. */
  id: string;
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  /** vocab_size in the encoder's own config.json (the table before GLiNER resizes it). */
  configVocab: number;
  /** Length of the encoder's tokenizer ([MASK] is its last id): GLiNER's first added id. */
  tokenizerLength: number;
  positionBuckets: number;
  maxPositionEmbeddings: number;
}

/** All four encoders share the DeBERTa-v3 settings below; only the sizes differ. */
export const ENCODERS: Readonly<Record<EncoderKey, EncoderSpec>> = {
  'deberta-v3-small': {
    id: 'microsoft/deberta-v3-small', layers: 6, hidden: 768, heads: 12, intermediate: 3072,
    configVocab: 128100, tokenizerLength: 128001, positionBuckets: 256, maxPositionEmbeddings: 512,
  },
  'deberta-v3-base': {
    id: 'microsoft/deberta-v3-base', layers: 12, hidden: 768, heads: 12, intermediate: 3072,
    configVocab: 128100, tokenizerLength: 128001, positionBuckets: 256, maxPositionEmbeddings: 512,
  },
  'deberta-v3-large': {
    id: 'microsoft/deberta-v3-large', layers: 24, hidden: 1024, heads: 16, intermediate: 4096,
    configVocab: 128100, tokenizerLength: 128001, positionBuckets: 256, maxPositionEmbeddings: 512,
  },
  'mdeberta-v3-base': {
    id: 'microsoft/mdeberta-v3-base', layers: 12, hidden: 768, heads: 12, intermediate: 3072,
    configVocab: 251000, tokenizerLength: 250102, positionBuckets: 256, maxPositionEmbeddings: 512,
  },
};

/** Architecture classes: every family of one class has identical tensor names and shapes. */
export type FamilySize = 'small' | 'medium' | 'large' | 'multi' | 'multi-v0' | 'base-v0' | 'nuner-zero';

export interface FamilySpec {
  /** Repository name without the owner, e.g. 'gliner_small-v2.1'. */
  name: string;
  repo: string;
  size: FamilySize;
  encoder: EncoderKey;
  /** GLiNER width (span/prompt representations, BiLSTM output). */
  hiddenSize: number;
  maxWidth: number;
  maxLen: number;
  dropout: number;
  spanMode: SpanMode;
  /** Rows of the resized word-embedding table: tokenizer length + [FLERT], <<ENT>>, <<SEP>>. */
  vocabSize: number;
  /** Ids of the tokens after the encoder's own vocabulary. */
  tokenIds: { mask: number; flert: number; ent: number; sep: number };
  /** Training keys of the published gliner_config.json (not used by inference). */
  training: Record<string, unknown>;
  /** false when our loader cannot run this family; `note` says why. */
  supported: boolean;
  note?: string;
  /** Values that no public source confirmed directly (see docs/families.md). */
  unconfirmed: string[];
}

/** The training keys of the "correct" configs of the v1 and v2.1 repos (urchade's re-uploads). */
const TRAINING_V1: Record<string, unknown> = {
  size_sup: -1, max_types: 25, shuffle_types: true, random_drop: true, max_neg_type_ratio: 1,
  lr_encoder: '1e-5', lr_others: '5e-5', num_steps: 30000, warmup_ratio: 3000, train_batch_size: 8,
  eval_every: 5000, fine_tune: true, subtoken_pooling: 'first', name: 'correct',
};
/** The v2 repos were trained longer (urchade/gliner_medium-v2, commit 17f0abe). */
const TRAINING_V2: Record<string, unknown> = { ...TRAINING_V1, num_steps: 100000, warmup_ratio: 5000, eval_every: 10000 };

function tokenIds(encoder: EncoderKey): FamilySpec['tokenIds'] {
  const n = ENCODERS[encoder].tokenizerLength;
  return { mask: n - 1, flert: n, ent: n + 1, sep: n + 2 };
}

function family(
  name: string,
  size: FamilySize,
  encoder: EncoderKey,
  training: Record<string, unknown>,
  extra: Partial<FamilySpec> = {},
): FamilySpec {
  return {
    name,
    repo: `urchade/${name}`,
    size,
    encoder,
    hiddenSize: 512,
    maxWidth: 12,
    maxLen: 384,
    dropout: 0.4,
    spanMode: 'markerV0',
    vocabSize: ENCODERS[encoder].tokenizerLength + 3,
    tokenIds: tokenIds(encoder),
    training,
    supported: true,
    unconfirmed: [],
    ...extra,
  };
}

export const FAMILIES: readonly FamilySpec[] = [
  family('gliner_small-v1', 'small', 'deberta-v3-small', TRAINING_V1),
  family('gliner_medium-v1', 'medium', 'deberta-v3-base', TRAINING_V1, { dropout: 0.0 }),
  family('gliner_large-v1', 'large', 'deberta-v3-large', TRAINING_V1),
  family('gliner_small-v2', 'small', 'deberta-v3-small', TRAINING_V2, {
    unconfirmed: ['hidden_size 512 and training keys inferred from gliner_medium-v2 (its "better version" commit); the final small-v2 config was not found'],
  }),
  family('gliner_medium-v2', 'medium', 'deberta-v3-base', TRAINING_V2),
  family('gliner_large-v2', 'large', 'deberta-v3-large', TRAINING_V2, {
    unconfirmed: ['hidden_size 512 and training keys inferred from gliner_medium-v2 (its "better version" commit); the final large-v2 config was not found'],
  }),
  family('gliner_small-v2.1', 'small', 'deberta-v3-small', TRAINING_V1, {
    unconfirmed: ['hidden_size 512 from the parameter count (onnx-community export 611 MB; fine-tunes of it publish hidden_size 512), not from the repo config itself'],
  }),
  family('gliner_medium-v2.1', 'medium', 'deberta-v3-base', TRAINING_V1, {
    unconfirmed: ['an early commit (559830d) has hidden_size 768; 512 is from the parameter count of the current weights (onnx-community export 782 MB)'],
  }),
  family('gliner_large-v2.1', 'large', 'deberta-v3-large', TRAINING_V1),
  family('gliner_multi', 'multi-v0', 'mdeberta-v3-base', { ...TRAINING_V1, warmup_ratio: 0.1, name: 'abl' }, {
    hiddenSize: 768,
    spanMode: 'marker',
    unconfirmed: ['vocab size 250105 assumed as for gliner_multi-v2.1 (same tokenizer and GLiNER-added tokens)'],
  }),
  family('gliner_multi-v2.1', 'multi', 'mdeberta-v3-base', TRAINING_V1),
  // GLiNER 0.1.x 'marker' models: GLiNER width = encoder width, so no projection.
  family('gliner_base', 'base-v0', 'deberta-v3-base', { ...TRAINING_V1, warmup_ratio: 0.1, name: 'abl' }, {
    hiddenSize: 768,
    spanMode: 'marker',
    unconfirmed: ['training keys and dropout assumed as for gliner_multi (same release); hidden_size 768 and span_mode marker from the reference fixtures README (tiny_marker mirrors gliner_base / gliner_multi)'],
  }),
  // NuNER Zero: marker with max_width 1 (a word classifier), deberta-v3-large projected to 768.
  family('NuNER_Zero', 'nuner-zero', 'deberta-v3-large', { ...TRAINING_V1, name: 'nuner-zero' }, {
    repo: 'numind/NuNER_Zero',
    hiddenSize: 768,
    maxWidth: 1,
    spanMode: 'marker',
    unconfirmed: ['training keys, max_len and dropout not seen; encoder, hidden_size 768 (projection 1024 -> 768), max_width 1 and span_mode from the reference fixtures README (tiny_marker_w1 mirrors it)'],
  }),
  family('NuNER_Zero-span', 'nuner-zero', 'deberta-v3-large', { ...TRAINING_V1, name: 'nuner-zero-span' }, {
    repo: 'numind/NuNER_Zero-span',
    hiddenSize: 768,
    spanMode: 'marker',
    unconfirmed: ['assumed to be NuNER_Zero with span decoding (max_width 12); its config was not found'],
  }),
  family('gliner_multi_pii-v1', 'multi', 'mdeberta-v3-base', TRAINING_V1, {
    unconfirmed: ['assumed to keep gliner_multi-v2.1\'s architecture (it is a PII fine-tune of it); its config was not found'],
  }),
];

export function familyNames(): string[] {
  return FAMILIES.map((f) => f.name);
}

/** The family of that name (with or without the 'urchade/' owner). */
export function getFamily(name: string): FamilySpec {
  const f = FAMILIES.find((x) => x.name === name || x.repo === name);
  if (!f) throw new Error(`unknown GLiNER family '${name}' (known: ${familyNames().join(', ')})`);
  return f;
}

/** The encoder's config.json as its Hugging Face repo publishes it (older repos write pos_att_type as "p2c|c2p"). */
export function encoderConfigJson(key: EncoderKey, vocabSize = ENCODERS[key].configVocab): Record<string, unknown> {
  const e = ENCODERS[key];
  return {
    model_type: 'deberta-v2',
    attention_probs_dropout_prob: 0.1,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.1,
    hidden_size: e.hidden,
    initializer_range: 0.02,
    intermediate_size: e.intermediate,
    layer_norm_eps: 1e-7,
    max_position_embeddings: e.maxPositionEmbeddings,
    max_relative_positions: -1,
    norm_rel_ebd: 'layer_norm',
    num_attention_heads: e.heads,
    num_hidden_layers: e.layers,
    pad_token_id: 0,
    pos_att_type: ['p2c', 'c2p'],
    position_biased_input: false,
    position_buckets: e.positionBuckets,
    relative_attention: true,
    share_att_key: true,
    type_vocab_size: 0,
    vocab_size: vocabSize,
  };
}

export type ConfigStyle = 'current' | 'published';

export interface FamilyConfigFiles {
  /** Content of gliner_config.json. */
  glinerConfig: Record<string, unknown>;
  /** Content of config.json (the encoder config). */
  encoderConfig: Record<string, unknown>;
}

/**
 * The config files of a family.
 *  - 'published': gliner_config.json exactly as the urchade repo has it (old style, no
 *    encoder_config / vocab_size / model_type / class_token_index) and the encoder's own
 *    config.json (vocab_size 128100 / 251000; GLiNER resized the table to `vocabSize` rows).
 *  - 'current' (default): what current GLiNER writes when it saves the model: the encoder config
 *    embedded, vocab_size and class_token_index set; config.json carries the resized vocab.
 */
export function buildFamilyConfig(name: string, options: { style?: ConfigStyle } = {}): FamilyConfigFiles {
  const f = getFamily(name);
  const style = options.style ?? 'current';
  const published: Record<string, unknown> = {
    ...f.training,
    max_len: f.maxLen,
    max_width: f.maxWidth,
    model_name: ENCODERS[f.encoder].id,
    hidden_size: f.hiddenSize,
    span_mode: f.spanMode,
    dropout: f.dropout,
  };
  if (style === 'published') return { glinerConfig: published, encoderConfig: encoderConfigJson(f.encoder) };
  if (style !== 'current') throw new Error(`unknown config style '${String(style)}' (current, published)`);
  const encoderConfig = encoderConfigJson(f.encoder, f.vocabSize);
  const glinerConfig: Record<string, unknown> = {
    ...published,
    model_type: 'gliner_uni_encoder_span',
    vocab_size: f.vocabSize,
    class_token_index: f.tokenIds.ent,
    ent_token: '<<ENT>>',
    sep_token: '<<SEP>>',
    words_splitter_type: 'whitespace',
    embed_ent_token: true,
    num_rnn_layers: 1,
    encoder_config: encoderConfig,
  };
  if (!f.supported) return { glinerConfig, encoderConfig };
  // Round-trip through our parser/writer so the file is exactly what this project saves.
  const parsed = parseGlinerConfig(glinerConfig, `${f.name} (generated config)`);
  return { glinerConfig: glinerConfigToJson(parsed), encoderConfig };
}

/** The parsed config of a supported family (current style). */
export function familyGlinerConfig(name: string): GlinerConfig {
  const f = getFamily(name);
  if (!f.supported) throw new Error(`${f.name}: not supported by this library: ${f.note}`);
  return parseGlinerConfig(buildFamilyConfig(name).glinerConfig, `${f.name} (generated config)`);
}

// Parameter shapes come from the model's own module tree, built shape-only (no allocation).
export type { ParamShape };
export { glinerParameterShapes };

export function countParameters(shapes: readonly ParamShape[]): number {
  let n = 0;
  for (const [, shape] of shapes) n += shape.reduce((a, b) => a * b, 1);
  return n;
}

/** Parameter count of a supported family (no allocation). */
export function familyParameterCount(name: string): number {
  return countParameters(glinerParameterShapes(familyGlinerConfig(name)));
}

export interface FamilyMatch {
  size: FamilySize;
  encoder: EncoderKey;
  /** Published families with exactly these tensor shapes (versions are not distinguishable by shape). */
  families: string[];
  /** True when the embedding table has exactly the published row count. */
  exactVocab: boolean;
}

/**
 * Which published family a config has the architecture of: same encoder sizes, GLiNER width,
 * span head; the vocabulary must be the encoder's (between its tokenizer length and its config
 * vocab_size, or the GLiNER-resized size). Returns null for anything else (custom models).
 */
export function matchFamily(config: GlinerConfig): FamilyMatch | null {
  const enc = config.encoder;
  const hits = FAMILIES.filter((f) => {
    const e = ENCODERS[f.encoder];
    return (
      f.supported &&
      e.layers === enc.numHiddenLayers &&
      e.hidden === enc.hiddenSize &&
      e.heads === enc.numAttentionHeads &&
      e.intermediate === enc.intermediateSize &&
      e.positionBuckets === enc.positionBuckets &&
      f.hiddenSize === config.hiddenSize &&
      f.spanMode === config.spanMode &&
      enc.vocabSize >= e.tokenizerLength &&
      enc.vocabSize <= Math.max(e.configVocab, f.vocabSize)
    );
  });
  if (hits.length === 0) return null;
  return {
    size: hits[0].size,
    encoder: hits[0].encoder,
    families: hits.map((f) => f.name),
    exactVocab: hits[0].vocabSize === enc.vocabSize,
  };
}
