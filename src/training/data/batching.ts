/**
 * Batch preparation for span-level GLiNER training, equivalent to upstream's
 * `UniEncoderSpanProcessor` (collate_raw_batch + create_labels) but without the tokenizer: the
 * output says which words and which entity types each example has, and the span tensors; the
 * model side turns `tokens` + `classes` into the prompt and input ids.
 *
 * ## PreparedBatch (what a model consumes)
 * For B examples, L = the longest text in the batch (in words, after truncation), W = maxWidth,
 * C = the largest number of entity types of any example in the batch:
 *   - `examples[b].tokens`   words of text b (cut to maxLen; an empty text becomes ["[PAD]"],
 *                            as upstream does, so it has length 1)
 *   - `examples[b].classes`  entity types in prompt order: class id k (1-based, upstream's
 *                            `id_to_classes`) is `classes[k-1]` and tensor column k-1
 *   - `textLengths`  Int32 [B]            words per text
 *   - `spanIdx`      Int32 [B, L*W, 2]    row s*W+w = (s, s+w) for s < textLengths[b];
 *                                         padding rows (s >= textLengths[b]) are (0, 0)
 *   - `spanMask`     Uint8 [B, L*W]       1 where s < textLengths[b] and s+w < textLengths[b]
 *   - `labels`       Float32 [B, L*W, C]  1 at (b, s*W+w, k-1) for each gold span (s, s+w) of
 *                                         type classes[k-1]; 0 elsewhere (padding included)
 *   - `classMask`    Uint8 [B, C]         1 for real classes, 0 for padding columns
 * All arrays are row-major. This matches upstream's collated `span_idx`, `span_mask`,
 * `text_lengths` ([B, 1] there) and `labels`.
 *
 * ## Gold spans
 * A gold span is kept only if it ends inside the truncated text (end < min(len, maxLen)), is
 * at most W words wide (end - start < W) and its type is among the example's classes; the rest
 * are counted in `dropped` (upstream drops them silently).
 *
 * ## Entity types per example (upstream `batch_generate_class_mappings`, v0.2.27)
 *   1. Once per batch, "in-batch negatives": up to `sampledNegatives` (100) types sampled without
 *      replacement from all gold types of the batch (or from `negativePool` if given).
 *   2. Per example, r = uniform integer in [0, maxNegTypeRatio] (0 when the ratio is 0).
 *   3. If the example has `labels` (`ner_labels`): exactly those types, in that order
 *      (de-duplicated); nothing is shuffled, dropped, cut or added. Upstream ignores the
 *      example's negatives here although its docs suggest otherwise; `addNegativesToNerLabels`
 *      appends them.
 *   4. Otherwise: negatives = the example's own `negatives` (`ner_negatives`) if present, else
 *      the first (number of gold spans) * r in-batch negatives. Types = the distinct gold types
 *      (all of the example's spans, also ones truncation will drop) plus those negatives, which
 *      may repeat a positive (then it counts once).
 *        - `shuffleTypes` (default true, upstream always shuffles): random order. When false, the
 *          order is deterministic: gold types by first occurrence, then negatives. (Upstream
 *          builds the list from a Python set, so its order before shuffling is arbitrary.)
 *        - `randomDrop` (default false): keep only the first k types, k uniform in [1, #types].
 *          This is what `random_drop` did in GLiNER's original training loop (early 2024); the
 *          current upstream keeps the config key but never reads it. Gold spans of dropped types
 *          become non-entities for that step, teaching the model not to tag types it was not
 *          asked for.
 *        - cut to the first `maxTypes` types (this can drop gold types, as upstream).
 *
 * ## Order of examples (BatchPlanner)
 * Each epoch: shuffle all examples; cut the order into buckets of `bucketBatches * batchSize`;
 * sort each bucket by length, longest first (stable); cut into batches; shuffle the batches.
 * Batches of similar lengths waste less padding, and the batch shuffle keeps the long ones from
 * always coming first. `bucketBatches: 0` gives plain shuffled batches (upstream's default
 * RandomSampler); `shuffle: false` keeps file order (or bucket-sorted order).
 *
 * ## Randomness and resuming
 * Everything random comes from xoshiro128** streams (rng.ts) whose seeds are derived from
 * (seed, epoch) for the epoch order and (seed, epoch, batch index) for type sampling. A batch
 * therefore depends only on the seed and its position, not on how many batches were drawn
 * before: `state()` is just the position, and `restore()` continues exactly where a run stopped,
 * mid-epoch included.
 */
import { TrainingExample, TrainingSpan, dedupe } from './formats';
import { Rng, deriveSeed } from './rng';
import { mergeDescriptions, promptsFor } from '../../processing/label-descriptions';

/** Word used for an empty text, as upstream (`tokens = ["[PAD]"]`). */
export const EMPTY_TEXT_TOKEN = '[PAD]';

export interface SpanLayoutOptions {
  /** Texts are cut to this many words (upstream `max_len`). */
  maxLen: number;
  /** Spans cover 1..maxWidth words (upstream `max_width`). */
  maxWidth: number;
}

export interface PreparedExample {
  /** Index of the example in the planner's list (or in the array given to `prepareSpanBatch`). */
  index: number;
  /** Words the model sees: truncated to maxLen, ["[PAD]"] for an empty text. */
  tokens: string[];
  /** Entity types in prompt order; type id k (1-based) is classes[k-1], tensor column k-1. */
  classes: string[];
  /** Gold spans present in `labels`. */
  spans: TrainingSpan[];
  /**
   * Gold spans a token-level model learns (upstream UniEncoderTokenDataCollator): prompted type and
   * both ends inside the batch's word axis (end < L); no width limit.
   */
  tokenSpans: TrainingSpan[];
  /** What is prompted for each class when label descriptions are given (default: the class names). */
  prompts?: string[];
}

export interface DroppedSpans {
  /** Spans ending beyond the truncated text. */
  truncated: number;
  /** Spans wider than maxWidth words. */
  tooWide: number;
  /** Spans whose type is not among the example's classes (max_types cut, random drop, ner_labels). */
  typeNotPrompted: number;
}

export interface BatchPosition {
  epoch: number;
  /** Batch index within the epoch. */
  batch: number;
}

export interface PreparedBatch {
  examples: PreparedExample[];
  batchSize: number;
  maxWidth: number;
  /** L: longest text in the batch, in words. */
  maxWords: number;
  /** L * maxWidth. */
  numSpans: number;
  /** C: most entity types of any example in the batch. */
  numClasses: number;
  /** [B] words per text. */
  textLengths: Int32Array;
  /** [B, L*W, 2] (start, end) word indices, end inclusive. */
  spanIdx: Int32Array;
  /** [B, L*W] 1 for spans inside the text. */
  spanMask: Uint8Array;
  /** [B, L*W, C] 0/1 gold labels. */
  labels: Float32Array;
  /** [B, C] 1 for real (non-padding) classes. */
  classMask: Uint8Array;
  dropped: DroppedSpans;
  /** Where the batch came from when produced by a BatchPlanner. */
  position?: BatchPosition;
}

function checkLayout(opts: SpanLayoutOptions): void {
  if (!Number.isInteger(opts.maxLen) || opts.maxLen < 1) throw new RangeError(`maxLen must be a positive integer, got ${opts.maxLen}`);
  if (!Number.isInteger(opts.maxWidth) || opts.maxWidth < 1) throw new RangeError(`maxWidth must be a positive integer, got ${opts.maxWidth}`);
}

/** Words the model sees for an example: cut to maxLen, or ["[PAD]"] when empty. */
export function modelTokens(tokens: readonly string[], maxLen: number): string[] {
  if (tokens.length === 0) return [EMPTY_TEXT_TOKEN];
  return tokens.slice(0, maxLen);
}

/**
 * Build the span tensors for examples whose entity types are already chosen.
 * `classes[b]` lists example b's types in prompt order (duplicates are removed, first kept,
 * as upstream's `make_mapping`). Deterministic: no randomness here.
 */
export function prepareSpanBatch(
  examples: readonly TrainingExample[],
  classes: readonly (readonly string[])[],
  opts: SpanLayoutOptions,
  indices?: readonly number[],
): PreparedBatch {
  checkLayout(opts);
  if (examples.length === 0) throw new RangeError('prepareSpanBatch: empty batch');
  if (classes.length !== examples.length) {
    throw new RangeError(`prepareSpanBatch: ${examples.length} examples but ${classes.length} class lists`);
  }
  const B = examples.length;
  const W = opts.maxWidth;
  const tokens = examples.map((ex) => modelTokens(ex.tokens, opts.maxLen));
  const cls = classes.map((c) => dedupe(c));
  const L = Math.max(...tokens.map((t) => t.length));
  const C = Math.max(0, ...cls.map((c) => c.length));
  const S = L * W;

  const textLengths = new Int32Array(B);
  const spanIdx = new Int32Array(B * S * 2);
  const spanMask = new Uint8Array(B * S);
  const labels = new Float32Array(B * S * C);
  const classMask = new Uint8Array(B * C);
  const dropped: DroppedSpans = { truncated: 0, tooWide: 0, typeNotPrompted: 0 };
  const prepared: PreparedExample[] = [];
  // label_descriptions of any example in the batch apply to that type in every row
  const descriptions = mergeDescriptions(examples.map((e) => e.descriptions));

  for (let b = 0; b < B; b++) {
    const n = tokens[b].length;
    textLengths[b] = n;
    // Rows for starts beyond the text stay (0, 0) with mask 0, like upstream's pad_sequence.
    for (let s = 0; s < n; s++) {
      for (let w = 0; w < W; w++) {
        const row = b * S + s * W + w;
        spanIdx[2 * row] = s;
        spanIdx[2 * row + 1] = s + w;
        spanMask[row] = s + w < n ? 1 : 0;
      }
    }
    const classId = new Map<string, number>();
    cls[b].forEach((c, k) => {
      classId.set(c, k);
      classMask[b * C + k] = 1;
    });
    // An empty text has no real words, so none of its spans can be gold.
    const realLength = examples[b].tokens.length === 0 ? 0 : n;
    const kept: TrainingSpan[] = [];
    const tokenSpans: TrainingSpan[] = [];
    for (const sp of examples[b].spans) {
      if (!Number.isInteger(sp.start) || !Number.isInteger(sp.end) || sp.start < 0 || sp.end < sp.start) {
        throw new RangeError(`prepareSpanBatch: example ${b} has an invalid span ${JSON.stringify(sp)}`);
      }
      if (sp.end < L && realLength > 0 && classId.has(sp.label)) tokenSpans.push(sp);
      if (sp.end >= realLength) {
        dropped.truncated++;
        continue;
      }
      if (sp.end - sp.start >= W) {
        dropped.tooWide++;
        continue;
      }
      const k = classId.get(sp.label);
      if (k === undefined) {
        dropped.typeNotPrompted++;
        continue;
      }
      labels[(b * S + sp.start * W + (sp.end - sp.start)) * C + k] = 1;
      kept.push(sp);
    }
    const ex: PreparedExample = { index: indices ? indices[b] : b, tokens: tokens[b], classes: cls[b], spans: kept, tokenSpans };
    if (descriptions) ex.prompts = promptsFor(cls[b], descriptions);
    prepared.push(ex);
  }

  return {
    examples: prepared,
    batchSize: B,
    maxWidth: W,
    maxWords: L,
    numSpans: S,
    numClasses: C,
    textLengths,
    spanIdx,
    spanMask,
    labels,
    classMask,
    dropped,
  };
}

/**
 * Targets of a token-level model for a prepared batch (upstream UniEncoderTokenDataCollator):
 *   labels [B, L, C, 3]: for each token span (s, e, type k): start y[b,s,k,0], end y[b,e,k,1],
 *                        inside y[b,s..e,k,2] set to 1 (overlapping golds OR together);
 *   mask   [B, L, C]:    1 where the word is inside the text and the class is real.
 */
export function tokenLevelTargets(batch: PreparedBatch): { labels: Float32Array; mask: Float32Array } {
  const B = batch.batchSize;
  const L = batch.maxWords;
  const C = batch.numClasses;
  const labels = new Float32Array(B * L * C * 3);
  const mask = new Float32Array(B * L * C);
  batch.examples.forEach((ex, b) => {
    const k = new Map(ex.classes.map((c, i) => [c, i]));
    for (const sp of ex.tokenSpans) {
      const c = k.get(sp.label)!;
      const at = (w: number, ch: number) => ((b * L + w) * C + c) * 3 + ch;
      labels[at(sp.start, 0)] = 1;
      labels[at(sp.end, 1)] = 1;
      for (let w = sp.start; w <= sp.end; w++) labels[at(w, 2)] = 1;
    }
    for (let w = 0; w < batch.textLengths[b]; w++) for (let c = 0; c < ex.classes.length; c++) mask[(b * L + w) * C + c] = 1;
  });
  return { labels, mask };
}

export interface TypeSamplingOptions {
  /** At most this many types per example (upstream `max_types`, default 25). */
  maxTypes?: number;
  /** Negatives per gold span are drawn as r ~ U{0..maxNegTypeRatio} (upstream default 1). */
  maxNegTypeRatio?: number;
  /** Shuffle each example's types (default true, as upstream). */
  shuffleTypes?: boolean;
  /** Keep a random prefix of 1..all types (default false; see the file comment). */
  randomDrop?: boolean;
  /** Size of the per-batch negative sample (upstream samples 100). */
  sampledNegatives?: number;
  /** Draw negatives from this list of types instead of the batch's gold types. */
  negativePool?: readonly string[];
  /** Append `negatives` to examples that have `labels` (upstream ignores them). Default false. */
  addNegativesToNerLabels?: boolean;
}

type ResolvedTypeOptions = Required<Omit<TypeSamplingOptions, 'negativePool'>> & { negativePool?: readonly string[] };

function resolveTypeOptions(o: TypeSamplingOptions): ResolvedTypeOptions {
  const r: ResolvedTypeOptions = {
    maxTypes: o.maxTypes ?? 25,
    maxNegTypeRatio: Math.floor(o.maxNegTypeRatio ?? 1), // upstream: int(max_neg_type_ratio)
    shuffleTypes: o.shuffleTypes ?? true,
    randomDrop: o.randomDrop ?? false,
    sampledNegatives: o.sampledNegatives ?? 100,
    addNegativesToNerLabels: o.addNegativesToNerLabels ?? false,
    negativePool: o.negativePool,
  };
  if (!Number.isInteger(r.maxTypes) || r.maxTypes < 1) throw new RangeError(`maxTypes must be a positive integer, got ${o.maxTypes}`);
  if (!(r.maxNegTypeRatio >= 0)) throw new RangeError(`maxNegTypeRatio must be >= 0, got ${o.maxNegTypeRatio}`);
  if (!Number.isInteger(r.sampledNegatives) || r.sampledNegatives < 0) {
    throw new RangeError(`sampledNegatives must be a non-negative integer, got ${o.sampledNegatives}`);
  }
  return r;
}

/** The per-batch negative sample: distinct types in random order. */
export function sampleBatchNegatives(examples: readonly TrainingExample[], options: TypeSamplingOptions, rng: Rng): string[] {
  const o = resolveTypeOptions(options);
  const pool = o.negativePool ? dedupe(o.negativePool) : dedupe(examples.flatMap((ex) => ex.spans.map((s) => s.label)));
  return rng.sample(pool, Math.min(o.sampledNegatives, pool.length));
}

/** Entity types of one example (steps 2-4 of the file comment). */
export function selectTypes(example: TrainingExample, batchNegatives: readonly string[], options: TypeSamplingOptions, rng: Rng): string[] {
  const o = resolveTypeOptions(options);
  // Drawn before looking at the example's own keys, as upstream does.
  const ratio = o.maxNegTypeRatio > 0 ? rng.int(0, o.maxNegTypeRatio) : 0;
  if (example.labels !== undefined) {
    const extra = o.addNegativesToNerLabels ? example.negatives ?? [] : [];
    return dedupe([...example.labels, ...extra]);
  }
  const negatives = example.negatives ?? (ratio > 0 ? batchNegatives.slice(0, example.spans.length * ratio) : []);
  let types = dedupe([...example.spans.map((s) => s.label), ...negatives]);
  if (o.shuffleTypes) rng.shuffle(types);
  if (o.randomDrop && types.length > 0) types = types.slice(0, rng.int(1, types.length));
  return types.slice(0, o.maxTypes);
}

/** Entity types for every example of a batch, consuming `rng` in a fixed order. */
export function sampleBatchTypes(examples: readonly TrainingExample[], options: TypeSamplingOptions, rng: Rng): string[][] {
  const negatives = sampleBatchNegatives(examples, options, rng);
  return examples.map((ex) => selectTypes(ex, negatives, options, rng));
}

export interface BatchPlannerOptions extends SpanLayoutOptions, TypeSamplingOptions {
  batchSize: number;
  seed: number;
  /** Use these types, in this order, for every example instead of sampling (upstream's
   * `entity_types` argument; for evaluation and reference checks). */
  fixedLabels?: readonly string[];
  /** Shuffle examples (and batches) every epoch. Default true. */
  shuffle?: boolean;
  /** Length bucket size in batches (default 100); 0 or 1 turns length bucketing off. */
  bucketBatches?: number;
  /** Drop the last, smaller batch of each epoch. Default false. */
  dropLast?: boolean;
}

/** Serializable planner position; `restore()` it to continue a run exactly. */
export interface BatchPlannerState {
  version: 1;
  seed: number;
  epoch: number;
  /** Index of the next batch within `epoch`. */
  batch: number;
  /** Checked on restore: the plan is only the same for the same data and batch size. */
  numExamples: number;
  batchSize: number;
}

// Stream ids for deriveSeed, so the epoch order and type sampling never share numbers.
const STREAM_ORDER = 1;
const STREAM_TYPES = 2;

export class BatchPlanner {
  private readonly opts: BatchPlannerOptions;
  private readonly lengths: Int32Array;
  private epoch = 0;
  private batch = 0;
  private plan: { epoch: number; batches: number[][] } | null = null;

  constructor(
    private readonly examples: readonly TrainingExample[],
    options: BatchPlannerOptions,
  ) {
    checkLayout(options);
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${options.batchSize}`);
    }
    if (!Number.isSafeInteger(options.seed)) throw new RangeError(`seed must be an integer, got ${options.seed}`);
    const bucket = options.bucketBatches ?? 100;
    if (!Number.isInteger(bucket) || bucket < 0) throw new RangeError(`bucketBatches must be a non-negative integer, got ${bucket}`);
    if (examples.length === 0) throw new RangeError('BatchPlanner: no training examples');
    resolveTypeOptions(options); // validate early
    this.opts = { ...options };
    // Lengths as the model will see them, for bucketing.
    this.lengths = Int32Array.from(examples, (ex) => Math.max(1, Math.min(ex.tokens.length, options.maxLen)));
    if (this.batchesPerEpoch() === 0) {
      throw new RangeError(`BatchPlanner: ${examples.length} examples make no full batch of ${options.batchSize} with dropLast`);
    }
  }

  /** Number of batches in every epoch. */
  batchesPerEpoch(): number {
    const n = this.examples.length;
    const bs = this.opts.batchSize;
    return this.opts.dropLast ? Math.floor(n / bs) : Math.ceil(n / bs);
  }

  /** Position of the batch the next `nextBatch()` returns. */
  position(): BatchPosition {
    return { epoch: this.epoch, batch: this.batch };
  }

  /** The example indices of every batch of an epoch, in order. */
  epochPlan(epoch: number): number[][] {
    if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`epoch must be a non-negative integer, got ${epoch}`);
    if (this.plan?.epoch === epoch) return this.plan.batches;
    const { batchSize, shuffle = true, dropLast = false } = this.opts;
    const bucketBatches = this.opts.bucketBatches ?? 100;
    const rng = new Rng(deriveSeed(this.opts.seed, STREAM_ORDER, epoch));
    const order = Array.from({ length: this.examples.length }, (_, i) => i);
    if (shuffle) rng.shuffle(order);
    if (bucketBatches > 1) {
      const bucket = bucketBatches * batchSize;
      for (let start = 0; start < order.length; start += bucket) {
        const part = order.slice(start, start + bucket);
        part.sort((a, b) => this.lengths[b] - this.lengths[a]); // stable: ties keep shuffled order
        for (let j = 0; j < part.length; j++) order[start + j] = part[j];
      }
    }
    const batches: number[][] = [];
    for (let start = 0; start < order.length; start += batchSize) {
      const b = order.slice(start, start + batchSize);
      if (dropLast && b.length < batchSize) break;
      batches.push(b);
    }
    if (shuffle && bucketBatches > 1) rng.shuffle(batches);
    this.plan = { epoch, batches };
    return batches;
  }

  /** The batch at a position, without moving the planner. */
  batchAt(position: BatchPosition): PreparedBatch {
    const batches = this.epochPlan(position.epoch);
    if (!Number.isInteger(position.batch) || position.batch < 0 || position.batch >= batches.length) {
      throw new RangeError(`batch ${position.batch} is out of range: epoch has ${batches.length} batches`);
    }
    const indices = batches[position.batch];
    const exs = indices.map((i) => this.examples[i]);
    let classes: string[][];
    if (this.opts.fixedLabels !== undefined) {
      const fixed = dedupe(this.opts.fixedLabels);
      classes = exs.map(() => fixed);
    } else {
      const rng = new Rng(deriveSeed(this.opts.seed, STREAM_TYPES, position.epoch, position.batch));
      classes = sampleBatchTypes(exs, this.opts, rng);
    }
    const prepared = prepareSpanBatch(exs, classes, this.opts, indices);
    prepared.position = { epoch: position.epoch, batch: position.batch };
    return prepared;
  }

  /** The next batch; rolls over into the next epoch at the end of one. */
  nextBatch(): PreparedBatch {
    if (this.batch >= this.batchesPerEpoch()) {
      this.epoch++;
      this.batch = 0;
    }
    const out = this.batchAt({ epoch: this.epoch, batch: this.batch });
    this.batch++;
    return out;
  }

  state(): BatchPlannerState {
    return {
      version: 1,
      seed: this.opts.seed,
      epoch: this.epoch,
      batch: this.batch,
      numExamples: this.examples.length,
      batchSize: this.opts.batchSize,
    };
  }

  /** Continue from a saved state (same examples, batch size and seed). */
  restore(state: BatchPlannerState): void {
    if (state.version !== 1) throw new Error(`unsupported BatchPlanner state version ${String(state.version)}`);
    const mismatch: string[] = [];
    if (state.seed !== this.opts.seed) mismatch.push(`seed ${state.seed} != ${this.opts.seed}`);
    if (state.numExamples !== this.examples.length) mismatch.push(`numExamples ${state.numExamples} != ${this.examples.length}`);
    if (state.batchSize !== this.opts.batchSize) mismatch.push(`batchSize ${state.batchSize} != ${this.opts.batchSize}`);
    if (mismatch.length > 0) throw new Error(`BatchPlanner state does not match this planner: ${mismatch.join(', ')}`);
    if (!Number.isInteger(state.epoch) || state.epoch < 0 || !Number.isInteger(state.batch) || state.batch < 0 || state.batch > this.batchesPerEpoch()) {
      throw new RangeError(`invalid BatchPlanner position: epoch ${state.epoch}, batch ${state.batch}`);
    }
    this.epoch = state.epoch;
    this.batch = state.batch;
  }
}
