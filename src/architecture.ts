/**
 * The architecture registry: every GLiNER variant this library runs, and the one place a config
 * selects its parts. A model is three choices:
 *
 *   1. the text encoder, by the encoder config's `model_type`      ENCODER_TYPES
 *      (mounted at token_rep_layer.bert_layer.model.*)
 *   2. the head, by `span_mode`                                    SPAN_MODES
 *      markerV0 / marker: span models; token_level: token model
 *   3. the model type, uni- or bi-encoder (labels through the text encoder's prompt, or through a
 *      labels encoder of their own), with the head's output kind: `gliner_{uni|bi}_encoder_{span|token}`
 *      as upstream writes `model_type`                              MODEL_TYPES
 *
 * Everything between (projection, BiLSTM, prompt and word gathering) is shared: see model.ts.
 * Parameter names and shapes come from the modules themselves (Module.addParam); `declaredShapes`
 * lists them without allocating. To add an encoder: write its config (a field table, see
 * deberta/config.ts) and its Module (apply(ids, mask) -> [B, T, H]), then add an entry below.
 * docs/architecture.md walks through it.
 */
import * as tf from '@tensorflow/tfjs';
import { Module } from './layers/module';
import { DebertaV2Config, debertaConfigToJson, parseDebertaConfig } from './deberta/config';
import { DebertaV2Model } from './deberta/encoder';
import { GlinerHead, OutputKind, SpanHead, TokenHead } from './heads';
import { SpanMarker, SpanMarkerV0 } from './span-rep';

// ------------------------------------------------------------------------------------------
// 1. Text encoders
// ------------------------------------------------------------------------------------------

/** Any registered encoder's config (a union as encoders are added); each has these fields. */
export type EncoderConfig = DebertaV2Config;

/** What the rest of the model needs from a text encoder. */
export interface TextEncoder extends Module {
  /** ids, mask [B, T] int32 -> last hidden state [B, T, hidden]. */
  apply(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, training?: boolean): tf.Tensor3D;
}

export interface EncoderEntry {
  /** What `gliner-tf info` prints. */
  description: string;
  /** config.json (or embedded `encoder_config`) -> typed config; errors name `source`. */
  parse(raw: unknown, source: string): EncoderConfig;
  /** Typed config -> config.json keys (model_type included). */
  toJson(config: EncoderConfig): Record<string, unknown>;
  build(config: EncoderConfig): TextEncoder;
}

export const ENCODER_TYPES: Readonly<Record<string, EncoderEntry>> = {
  'deberta-v2': {
    description: 'DeBERTa-v2/v3 (relative attention)',
    parse: parseDebertaConfig,
    toJson: debertaConfigToJson,
    build: (c) => new DebertaV2Model(c),
  },
};

/** The encoder type a raw encoder config names (`model_type`; DeBERTa when absent, as old GLiNER configs). */
export function encoderTypeOf(raw: unknown, source: string): string {
  const t = raw && typeof raw === 'object' ? (raw as Record<string, unknown>).model_type : undefined;
  const type = t === undefined || t === null ? 'deberta-v2' : String(t);
  if (!(type in ENCODER_TYPES)) {
    throw new Error(`${source}: encoder model_type '${type}' is not supported (supported: ${Object.keys(ENCODER_TYPES).join(', ')})`);
  }
  return type;
}

// ------------------------------------------------------------------------------------------
// 2. Heads (span_mode)
// ------------------------------------------------------------------------------------------

export type SpanMode = 'markerV0' | 'marker' | 'token_level';

/** The head-related config values a head is built from. */
export interface HeadConfig {
  hiddenSize: number;
  maxWidth: number;
  dropout: number;
}

export interface HeadEntry {
  output: OutputKind;
  description: string;
  build(config: HeadConfig): GlinerHead;
}

export const SPAN_MODES: Readonly<Record<SpanMode, HeadEntry>> = {
  markerV0: {
    output: 'span',
    description: 'span model, markerV0 span head (4D projections, 2-layer out_project)',
    build: (c) => new SpanHead(new SpanMarkerV0(c.hiddenSize, c.maxWidth, c.dropout), c.hiddenSize, c.dropout),
  },
  marker: {
    output: 'span',
    description: 'span model, marker span head (2D projections, single-Linear out_project)',
    build: (c) => new SpanHead(new SpanMarker(c.hiddenSize, c.maxWidth, c.dropout), c.hiddenSize, c.dropout),
  },
  token_level: {
    output: 'token',
    description: 'token model, start / end / inside scorer',
    build: (c) => new TokenHead(c.hiddenSize, c.dropout),
  },
};

export function isSpanMode(v: unknown): v is SpanMode {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(SPAN_MODES, v);
}

// ------------------------------------------------------------------------------------------
// 3. Model types
// ------------------------------------------------------------------------------------------

/** 'uni': labels are prompt words of the text encoder; 'bi': labels have their own encoder. */
export type Encoding = 'uni' | 'bi';

export interface ModelTypeEntry {
  encoding: Encoding;
  output: OutputKind;
}

/** Upstream's `model_type` values; 'gliner' (and no key at all) are GLiNER 0.1.x configs, typed by span_mode. */
export const MODEL_TYPES: Readonly<Record<string, ModelTypeEntry>> = {
  gliner_uni_encoder_span: { encoding: 'uni', output: 'span' },
  gliner_uni_encoder_token: { encoding: 'uni', output: 'token' },
};

/** The `model_type` upstream writes for a model. */
export function modelTypeName(encoding: Encoding, output: OutputKind): string {
  return `gliner_${encoding}_encoder_${output}`;
}
