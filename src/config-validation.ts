/**
 * What every number in `gliner_config.json` and the encoder's `config.json` means, checked
 * before anything is allocated. A config is untrusted input (a downloaded model): without these
 * checks `max_width: 0` ends in "Invalid typed array length", `num_hidden_layers: 1e6` in 24 s
 * of allocation and an out-of-memory abort, `layer_norm_eps: -1` in NaN output.
 *
 * The parsers (src/config.ts, src/deberta/config.ts) call `validateGlinerConfig` /
 * `validateEncoderConfig` first; they keep their own type checks and defaults. Absent keys are
 * not checked here (the parsers' defaults are valid).
 */

type Json = Record<string, unknown>;

interface FieldRule {
  /** 'int': a whole number; 'num': any finite number. */
  kind: 'int' | 'num';
  min: number;
  max: number;
  /** min is exclusive (e.g. layer_norm_eps > 0). */
  minExclusive?: boolean;
  /** max is exclusive (e.g. a dropout probability < 1). */
  maxExclusive?: boolean;
  /** Values outside [min, max] that keep a special meaning (e.g. -1 = "not set"). */
  sentinels?: number[];
  /** What the key means, for the error message. */
  meaning: string;
}

/**
 * Ceilings far above any released checkpoint (DeBERTa-v3-large: 24 layers, 1024 hidden, 16 heads,
 * 128k vocab; GLiNER: max_width 12, max_len 384..2048) and far below what would exhaust memory
 * in the rule's own dimension. Their product is bounded separately by `maxParameters`.
 */
const GLINER_FIELDS: Record<string, FieldRule> = {
  hidden_size: { kind: 'int', min: 1, max: 65536, meaning: 'the span/entity representation width' },
  max_width: { kind: 'int', min: 1, max: 1024, meaning: 'the longest span in words' },
  max_len: { kind: 'int', min: 1, max: 1_000_000, meaning: 'the words per window' },
  max_types: { kind: 'int', min: 1, max: 100_000, meaning: 'the entity types per training example' },
  max_neg_type_ratio: { kind: 'num', min: 0, max: 1e6, meaning: 'negative types per positive type' },
  dropout: { kind: 'num', min: 0, max: 1, maxExclusive: true, meaning: 'a dropout probability' },
  num_rnn_layers: { kind: 'int', min: 0, max: 16, meaning: 'the BiLSTM layers' },
  class_token_index: { kind: 'int', min: 0, max: 10_000_000, sentinels: [-1], meaning: 'the token id of the entity marker' },
  vocab_size: { kind: 'int', min: 1, max: 10_000_000, sentinels: [-1], meaning: 'the rows of the word-embedding table' },
};

const ENCODER_FIELDS: Record<string, FieldRule> = {
  vocab_size: { kind: 'int', min: 1, max: 10_000_000, meaning: 'the rows of the word-embedding table' },
  hidden_size: { kind: 'int', min: 1, max: 65536, meaning: 'the encoder width' },
  num_hidden_layers: { kind: 'int', min: 1, max: 256, meaning: 'the encoder layers' },
  num_attention_heads: { kind: 'int', min: 1, max: 1024, meaning: 'the attention heads' },
  intermediate_size: { kind: 'int', min: 1, max: 1_048_576, meaning: 'the feed-forward width' },
  hidden_dropout_prob: { kind: 'num', min: 0, max: 1, maxExclusive: true, meaning: 'a dropout probability' },
  attention_probs_dropout_prob: { kind: 'num', min: 0, max: 1, maxExclusive: true, meaning: 'a dropout probability' },
  max_position_embeddings: { kind: 'int', min: 1, max: 1_048_576, meaning: 'the longest input in tokens' },
  type_vocab_size: { kind: 'int', min: 0, max: 1024, meaning: 'the token-type embeddings' },
  layer_norm_eps: { kind: 'num', min: 0, max: 1, minExclusive: true, maxExclusive: true, meaning: 'the LayerNorm epsilon' },
  // <= 0 means "use max_position_embeddings" (transformers' convention).
  max_relative_positions: { kind: 'int', min: -1_048_576, max: 1_048_576, meaning: 'the relative-position span' },
  // <= 0 means no log-bucketing.
  position_buckets: { kind: 'int', min: -1_048_576, max: 65536, meaning: 'the relative-position buckets' },
  embedding_size: { kind: 'int', min: 1, max: 65536, meaning: 'the word-embedding width' },
  pad_token_id: { kind: 'int', min: 0, max: 10_000_000, meaning: 'the padding token id' },
};

/** Default ceiling on encoder parameters: 2^30 float32 values is the 4 GiB a wasm heap can address. */
export const DEFAULT_MAX_PARAMETERS = 2 ** 30;

/** $GLINER_TF_MAX_PARAMETERS when set to a positive number, else DEFAULT_MAX_PARAMETERS. */
export function maxParameters(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.GLINER_TF_MAX_PARAMETERS);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_MAX_PARAMETERS;
}

function describeValue(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** "an integer in [1, 1024]" */
function expected(rule: FieldRule): string {
  const lo = rule.minExclusive ? `(${rule.min}` : `[${rule.min}`;
  const hi = rule.maxExclusive ? `${rule.max})` : `${rule.max}]`;
  const extra = rule.sentinels?.length ? ` or ${rule.sentinels.join(' / ')}` : '';
  return `${rule.kind === 'int' ? 'an integer' : 'a number'} in ${lo}, ${hi}${extra}`;
}

function checkFields(raw: Json, fields: Record<string, FieldRule>, source: string): void {
  for (const [key, rule] of Object.entries(fields)) {
    const v = raw[key];
    if (v === undefined || v === null) continue;
    const bad = (why: string): never => {
      throw new Error(`${source}: key '${key}' (${rule.meaning}) must be ${expected(rule)}, got ${describeValue(v)}${why}`);
    };
    if (typeof v !== 'number' || !Number.isFinite(v)) bad('');
    const n = v as number;
    if (rule.kind === 'int' && !Number.isInteger(n)) bad(' (not a whole number)');
    if (rule.sentinels?.includes(n)) continue;
    const low = rule.minExclusive ? n <= rule.min : n < rule.min;
    const high = rule.maxExclusive ? n >= rule.max : n > rule.max;
    if (low || high) bad('');
  }
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The top level of a config file must be an object: say so instead of a TypeError later. */
export function assertConfigObject(raw: unknown, source: string): asserts raw is Json {
  if (!isObject(raw)) {
    const what = raw === null ? 'null' : Array.isArray(raw) ? 'an array' : `a ${typeof raw}`;
    throw new Error(`${source}: must be a JSON object (with keys such as "model_name", "max_width"), got ${what}`);
  }
}

/** Rough parameter count of a DeBERTa-v2/v3 encoder from its (validated) config. */
export function estimateEncoderParameters(raw: Json): number {
  const n = (k: string, d: number): number => (typeof raw[k] === 'number' ? (raw[k] as number) : d);
  const h = n('hidden_size', 1536);
  const inter = n('intermediate_size', 6144);
  const layers = n('num_hidden_layers', 24);
  const vocab = n('vocab_size', 128100);
  const emb = n('embedding_size', h);
  const buckets = n('position_buckets', -1);
  const rel = buckets > 0 ? 2 * buckets : Math.max(1, n('max_relative_positions', -1) > 0 ? n('max_relative_positions', -1) : n('max_position_embeddings', 512)) * 2;
  return vocab * emb + rel * h + layers * (4 * h * h + 2 * h * inter + 9 * h);
}

/**
 * Check an encoder config (`config.json`, or `encoder_config` in gliner_config.json). Errors name
 * `source` and the key, before any tensor exists.
 */
export function validateEncoderConfig(raw: unknown, source: string): void {
  assertConfigObject(raw, source);
  checkFields(raw, ENCODER_FIELDS, source);
  const h = raw.hidden_size;
  const heads = raw.num_attention_heads;
  if (typeof h === 'number' && typeof heads === 'number' && h % heads !== 0) {
    throw new Error(`${source}: hidden_size ${h} is not divisible by num_attention_heads ${heads} (each head gets hidden_size / heads dimensions)`);
  }
  const pad = raw.pad_token_id;
  const vocab = raw.vocab_size;
  if (typeof pad === 'number' && typeof vocab === 'number' && pad >= vocab) {
    throw new Error(`${source}: pad_token_id ${pad} is not an id of the ${vocab}-entry vocabulary (vocab_size)`);
  }
  const params = estimateEncoderParameters(raw);
  const cap = maxParameters();
  if (params > cap) {
    throw new Error(
      `${source}: this encoder would have about ${params.toExponential(2)} parameters (num_hidden_layers, hidden_size, ` +
        `intermediate_size, vocab_size), more than the ${cap.toExponential(2)} this runtime can hold; ` +
        'raise GLINER_TF_MAX_PARAMETERS if the config is really meant to be that large',
    );
  }
}

/**
 * Check gliner_config.json: its top level, each numeric key against its meaning, and the
 * embedded (or separately given) encoder config. Errors name `source` and the key.
 */
export function validateGlinerConfig(raw: unknown, source: string, encoderRaw?: unknown): void {
  assertConfigObject(raw, source);
  checkFields(raw, GLINER_FIELDS, source);
  const enc = raw.encoder_config ?? encoderRaw;
  if (enc !== undefined && enc !== null) validateEncoderConfig(enc, raw.encoder_config ? `${source} (encoder_config)` : `${source} (encoder config)`);
}
