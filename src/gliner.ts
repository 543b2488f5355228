/**
 * The public GLiNER API: load a model folder, predict entities for any labels.
 *
 *   const model = await GLiNER.fromPretrained('path/to/gliner_small-v2.1');
 *   const entities = await model.predictEntities(text, ['person', 'award', 'date']);
 *   model.dispose();
 */
import { GlinerConfig } from './config';
import { GlinerModel } from './model';
import { BackendInfo, BackendPreference, initBackend } from './backend';
import { Entity, Span, spansToEntities, validateDecodeOptions } from './decoding';
import { DECODERS, OutputDecoder, mergeAdjacentSpans } from './decoders';
import { Range, planLabelGroups, planWindows, promptTokenCount } from './processing/windows';
import { Word, WordSplitterName, isWordSplitterName, splitWordsWith } from './processing/word-splitter';
import { LabelSpec, isDescriptionMap, labelTooLong, resolveLabelSpec } from './processing/label-descriptions';
import { ThresholdOptions, candidateFloor, filterCandidates, validateThresholdOptions } from './thresholds';
import { BatchRow, MAX_TOKENS_PER_WORD, WordTokenizer, buildBatch } from './processing/batch';
import { SpanLogits, spanLogits } from './span-logits';
import { LabelTokenError, ReservedTokenSource, findReservedToken, reservedTokens } from './processing/label-tokens';
import { isOutOfMemoryError } from './kernels/wasm-memory';
import { readGlinerConfig, readModelWeights } from './io/model-dir';
import { ResolveOptions, resolveModelSource } from './io/resolve-model';
import { loadTokenizerFromDir } from './io/tokenizer-files';
import { normalizeGlinerRecord, prepareSpanBatch, sampleBatchTypes, Rng, TrainingExample } from './training/data';
import { LossReduction, validateLossOptions } from './training/loss';
import { globalGradNorm, gradsToStored, lossAndGrads } from './training/step';

export type { Entity } from './decoding';
export type { LabelSpec } from './processing/label-descriptions';

/** A tokenizer usable by GLiNER: word encoding plus id lookup of the prompt tokens. */
export interface GlinerTokenizer extends WordTokenizer {
  tokenToId(token: string): number | undefined;
}

export interface LoadOptions extends ResolveOptions {
  /** TensorFlow.js backend; 'auto' picks the fastest one installed (see backend.ts). */
  backend?: BackendPreference;
  /** Called with warnings (unexpected checkpoint keys, truncation); default: console.warn. */
  onWarning?: (message: string) => void;
}

export interface LossAndGradientsOptions {
  /**
   * Entity types to prompt: one list for every example, or one list per example. Default: chosen
   * as upstream's collator does (gold types plus sampled negatives), with `seed`.
   */
  classes?: readonly string[] | readonly (readonly string[])[];
  /** Focal alpha; negative (default -1) disables it. */
  lossAlpha?: number;
  /** Focal gamma; 0 (default) is binary cross-entropy. */
  lossGamma?: number;
  /** 'sum' (default) or 'mean' over valid spans. */
  reduction?: LossReduction;
  labelSmoothing?: number;
  /** Dropout on (default true), as in upstream's train mode. */
  training?: boolean;
  /** Seed for type sampling when `classes` is not given. */
  seed?: number;
}

export interface LossAndGradients {
  loss: number;
  /** d loss / d parameter, keyed and shaped as in the checkpoint (upstream parameter names). */
  gradients: Record<string, Float32Array>;
  /** sqrt of the sum of squared gradients over all parameters. */
  gradNorm: number;
}

/** A training example in GLiNER's format, or already normalized. */
export type TrainingRecord = { tokenized_text: string[]; ner: [number, number, string][] } | TrainingExample;

export interface PredictOptions {
  /** Keep spans whose probability is strictly above this. Default 0.5. */
  threshold?: number;
  /** No overlapping entities (default true); false allows nested entities. */
  flatNer?: boolean;
  /** Allow several labels on the same span. Default false. */
  multiLabel?: boolean;
  /** Texts (windows) per forward pass in batchPredictEntities. Default 8. */
  batchSize?: number;
  /**
   * Words per window; default the model's max_len. Longer texts are split into overlapping
   * windows and the entities merged (no text is cut off) unless `truncate` is set.
   */
  maxLen?: number;
  /** Cut texts to `maxLen` words as upstream GLiNER does (with a warning) instead of windowing. */
  truncate?: boolean;
  /** Words shared by consecutive windows. Default max(max_width, maxLen / 8). */
  windowOverlap?: number;
  /**
   * Join touching entities of the same label (the next one starts at the word after the previous
   * ends) into one, scored by the lowest of its parts. For word-level models such as NuNER Zero
   * (max_width 1), whose model card merges its one-word predictions this way. Default false.
   */
  mergeAdjacent?: boolean;
  /**
   * Per-label thresholds, e.g. from `gliner-tf calibrate`: {"person": 0.42}. Labels not listed
   * use `threshold`.
   */
  thresholds?: Readonly<Record<string, number>>;
  /** Dynamic threshold: keep a span only if its score >= this fraction of its label's best score in the text. */
  relativeThreshold?: number;
  /** Dynamic threshold: keep at most this many spans per label per text (before flat / nested selection). */
  topK?: number;
  /** How texts are split into words: 'regex' (upstream's, default) or 'intl' (Intl.Segmenter: Chinese, Japanese, Thai...). */
  wordSplitter?: WordSplitterName;
}

interface PreparedText {
  index: number;
  text: string;
  words: Word[];
  /** Label names (what entities carry). */
  labels: string[];
  /** What is prompted for each label: its description, or its name. */
  prompts: string[];
  /** Candidate spans from every segment, in text word / label coordinates. */
  candidates: Span[];
}

/** One forward-pass row: a window of a text's words with a group of its labels. */
interface Segment {
  text: PreparedText;
  words: Range;
  labels: Range;
}

type ResolvedPredictOptions = Required<Omit<PredictOptions, 'thresholds' | 'relativeThreshold' | 'topK'>> &
  Pick<PredictOptions, 'thresholds' | 'relativeThreshold' | 'topK'>;

/**
 * Configs that predate class_token_index / vocab_size (GLiNER 0.1.x) rely on the loader adding
 * GLiNER's tokens ([FLERT], <<ENT>>, <<SEP>>) to the encoder's tokenizer and sizing the embedding
 * table to it, as upstream does. Mutates both; a no-op for current configs.
 */
export function reconcileTokenizer(config: GlinerConfig, tokenizer: { tokenToId(t: string): number | undefined; addTokens(t: string[]): number; vocabSize: number }): void {
  const missing = ['[FLERT]', config.entToken, config.sepToken].filter((t) => tokenizer.tokenToId(t) === undefined);
  if (missing.length) tokenizer.addTokens(missing);
  if (config.vocabSize < 0) config.encoder.vocabSize = tokenizer.vocabSize;
  if (config.classTokenIndex < 0) config.classTokenIndex = tokenizer.tokenToId(config.entToken)!;
}

/**
 * Candidates from overlapping windows (or label groups) can repeat a span: keep the best score,
 * and order them as one row's enumeration would (span: start, width, class) so ties break as upstream.
 */
function mergeCandidates(candidates: Span[], maxWidth: number, decoder: OutputDecoder): Span[] {
  const best = new Map<string, Span>();
  for (const c of candidates) {
    const key = `${c.start},${c.end},${c.classIndex}`;
    const seen = best.get(key);
    if (!seen || c.score > seen.score) best.set(key, c);
  }
  return [...best.values()].sort((a, b) => decoder.compare(a, b, maxWidth));
}

/** A call on a disposed model, or one in flight when dispose() was called. */
export class ModelDisposedError extends Error {
  readonly code = 'MODEL_DISPOSED';
  constructor(what: string) {
    super(`this GLiNER model has been disposed (${what})`);
    this.name = 'ModelDisposedError';
  }
}

export class GLiNER {
  /** The folder the tokenizer files were read from (fromPretrained), so a Trainer can copy them into checkpoints. */
  readonly tokenizerDir: string | null;
  private disposed = false;
  /** batchPredictEntities calls running; the weights are freed when the last one ends. */
  private inFlight = 0;
  private readonly classTokenId: number;
  private readonly warn: (message: string) => void;

  constructor(
    readonly config: GlinerConfig,
    readonly model: GlinerModel,
    readonly tokenizer: GlinerTokenizer,
    readonly backend: BackendInfo | null,
    options: { onWarning?: (message: string) => void; tokenizerDir?: string } = {},
  ) {
    this.warn = options.onWarning ?? ((m) => console.warn(`gliner-tf: ${m}`));
    this.tokenizerDir = options.tokenizerDir ?? null;
    const entId = tokenizer.tokenToId(config.entToken);
    const sepId = tokenizer.tokenToId(config.sepToken);
    if (entId === undefined || sepId === undefined) {
      throw new Error(`the tokenizer has no '${config.entToken}' / '${config.sepToken}' tokens; this is not a GLiNER tokenizer`);
    }
    if (config.classTokenIndex >= 0 && config.classTokenIndex !== entId) {
      throw new Error(`class_token_index ${config.classTokenIndex} in the config does not match the tokenizer's id ${entId} for '${config.entToken}'`);
    }
    this.classTokenId = entId;
  }

  /**
   * Load a model from a local folder (gliner_config.json, weights, tokenizer files) or a Hugging
   * Face hub repo id such as 'urchade/gliner_small-v2.1' (downloaded into the huggingface_hub
   * cache; `localFilesOnly` or HF_HUB_OFFLINE=1 use the cache only).
   */
  static async fromPretrained(pathOrId: string, options: LoadOptions = {}): Promise<GLiNER> {
    if (typeof pathOrId !== 'string' || !pathOrId) throw new TypeError('fromPretrained: pathOrId must be a non-empty string');
    const backend = await initBackend(options.backend ?? 'auto');
    const warn = options.onWarning ?? ((m: string) => console.warn(`gliner-tf: ${m}`));
    const source = await resolveModelSource(pathOrId, options);
    const config = readGlinerConfig(source.modelDir, source.encoderConfigDir);
    const tokenizer = loadTokenizerFromDir(source.tokenizerDir);
    reconcileTokenizer(config, tokenizer);
    const { file, weights } = await readModelWeights(source.modelDir);
    const model = new GlinerModel(config);
    try {
      const { unexpected } = model.loadWeights(weights, file);
      const relevant = unexpected.filter((k) => !k.endsWith('position_ids'));
      if (relevant.length) warn(`${file}: ${relevant.length} unused tensors: ${relevant.slice(0, 10).join(', ')}${relevant.length > 10 ? ', ...' : ''}`);
      return new GLiNER(config, model, tokenizer as GlinerTokenizer, backend, { onWarning: warn, tokenizerDir: source.tokenizerDir });
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  /** Entities in one text. Offsets are UTF-16 indices into `text` (end exclusive). */
  async predictEntities(text: string, labels: LabelSpec, options: PredictOptions = {}): Promise<Entity[]> {
    const [result] = await this.batchPredictEntities([text], labels, options);
    return result;
  }

  /**
   * Entities for many texts. `labels` is one list for all texts, or one list per text.
   * Texts are grouped by length into batches of `batchSize` (padding does not change results).
   */
  async batchPredictEntities(
    texts: readonly string[],
    labels: LabelSpec | readonly LabelSpec[],
    options: PredictOptions = {},
  ): Promise<Entity[][]> {
    if (this.disposed) throw new ModelDisposedError('batchPredictEntities after dispose()');
    this.inFlight++;
    try {
      return await this.predictInFlight(texts, labels, options);
    } finally {
      if (--this.inFlight === 0 && this.disposed) this.model.dispose();
    }
  }

  private async predictInFlight(
    texts: readonly string[],
    labels: LabelSpec | readonly LabelSpec[],
    options: PredictOptions,
  ): Promise<Entity[][]> {
    const opts = this.resolveOptions(options);
    if (!Array.isArray(texts)) throw new TypeError('texts must be an array of strings');
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw new TypeError(`texts[${i}] must be a string, got ${t === null ? 'null' : typeof t}`);
    });
    const labelsFor = this.labelResolver(labels, texts.length);

    const results: Entity[][] = texts.map(() => []);
    const prepared: PreparedText[] = [];
    let truncated = 0;
    texts.forEach((text, index) => {
      let words = splitWordsWith(text, opts.wordSplitter);
      if (words.length === 0) return; // empty or blank text: no entities
      if (opts.truncate && words.length > opts.maxLen) {
        truncated++;
        words = words.slice(0, opts.maxLen);
      }
      const { names, prompts } = labelsFor(index);
      prepared.push({ index, text, words, labels: names, prompts, candidates: [] });
    });
    if (truncated) {
      this.warn(`${truncated} text(s) longer than max_len=${opts.maxLen} words were truncated to the first ${opts.maxLen} words`);
    }
    const segments = prepared.flatMap((p) => this.planSegments(p, opts));
    // Similar lengths together: less padding, same results.
    segments.sort((a, b) => a.words.end - a.words.start - (b.words.end - b.words.start));
    for (let i = 0; i < segments.length; i += opts.batchSize) {
      if (this.disposed) throw new ModelDisposedError('dispose() was called while this call was running');
      await this.runSegments(segments.slice(i, i + opts.batchSize), opts);
    }
    const W = this.config.maxWidth;
    const decoder = DECODERS[this.model.output];
    for (const p of prepared) {
      const candidates = filterCandidates(mergeCandidates(p.candidates, W, decoder), p.labels, opts as ThresholdOptions);
      let spans = decoder.select(candidates, p.words.length, W, opts);
      if (opts.mergeAdjacent) spans = mergeAdjacentSpans(spans);
      results[p.index] = spansToEntities(spans, p.words, p.text, p.labels);
    }
    return results;
  }

  /** Windows x label groups that cover a text within the word and token limits. */
  private planSegments(p: PreparedText, opts: ResolvedPredictOptions): Segment[] {
    const maxTokens = this.config.encoder.maxPositionEmbeddings;
    const count = (w: string) => Math.min(MAX_TOKENS_PER_WORD, Math.max(1, this.tokenizer.encodeWord(w).length));
    // A prompt may take half the encoder window; more labels are split into groups. Labels are
    // never cut, so a label (description) that alone exceeds that is an error naming it.
    const labelBudget = Math.floor(maxTokens / 2);
    const labelTokens = p.prompts.map((prompt, i) => {
      const n = Math.max(1, this.tokenizer.encodeWord(prompt).length);
      if (promptTokenCount([n]) > labelBudget) throw labelTooLong(p.labels[i], prompt, n, labelBudget - promptTokenCount([0]));
      return n;
    });
    const groups = planLabelGroups(labelTokens, labelBudget);
    const wordTokens = opts.truncate ? null : p.words.map((w) => count(w.text));
    const segments: Segment[] = [];
    for (const labels of groups) {
      const windows = wordTokens
        ? planWindows(wordTokens, opts.maxLen, maxTokens - promptTokenCount(labelTokens.slice(labels.start, labels.end)), opts.windowOverlap)
        : [{ start: 0, end: p.words.length }];
      for (const words of windows) segments.push({ text: p, words, labels });
    }
    return segments;
  }

  /** One forward pass over segments; their candidates are added to their texts in text coordinates. */
  private async runSegments(segments: Segment[], opts: ResolvedPredictOptions): Promise<void> {
    const rows: BatchRow[] = segments.map((g) => ({
      words: g.text.words.slice(g.words.start, g.words.end).map((w) => w.text),
      labels: g.text.prompts.slice(g.labels.start, g.labels.end),
    }));
    let logits: SpanLogits;
    try {
      logits = await spanLogits(this, this.classTokenId, rows);
    } catch (e) {
      if (!isOutOfMemoryError(e)) throw e;
      const words = Math.max(...rows.map((r) => r.words.length));
      const labels = Math.max(...rows.map((r) => r.labels.length));
      const err = new Error(
        `out of memory predicting a batch of ${rows.length} text windows (up to ${words} words, ${labels} labels): ${(e as Error).message}. ` +
          `Lower the batchSize option (now ${opts.batchSize}; --batch-size on the command line), pass fewer labels per call, ` +
          `or use a backend with more memory (@tensorflow/tfjs-node)`,
        { cause: e },
      );
      err.name = 'OutOfMemoryError';
      throw err;
    }
    segments.forEach((g, b) => {
      const found = DECODERS[logits.output].candidates(logits.row(b), logits.dims, rows[b].words.length, {
        // per-label thresholds are applied after merging; collect everything above the lowest
        threshold: candidateFloor(opts as ThresholdOptions),
        flatNer: opts.flatNer,
        multiLabel: opts.multiLabel,
        validClasses: rows[b].labels.length,
      });
      for (const c of found) {
        g.text.candidates.push({ start: c.start + g.words.start, end: c.end + g.words.start, classIndex: c.classIndex + g.labels.start, score: c.score });
      }
    });
  }

  private resolveOptions(options: PredictOptions): ResolvedPredictOptions {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const maxLen = options.maxLen ?? this.config.maxLen;
    const resolved: ResolvedPredictOptions = {
      threshold: options.threshold ?? 0.5,
      flatNer: options.flatNer ?? true,
      multiLabel: options.multiLabel ?? false,
      batchSize: options.batchSize ?? 8,
      maxLen,
      truncate: options.truncate ?? false,
      windowOverlap: options.windowOverlap ?? Math.max(this.config.maxWidth, Math.floor(maxLen / 8)),
      mergeAdjacent: options.mergeAdjacent ?? false,
      thresholds: options.thresholds,
      relativeThreshold: options.relativeThreshold,
      topK: options.topK,
      wordSplitter: options.wordSplitter ?? 'regex',
    };
    validateDecodeOptions(resolved);
    validateThresholdOptions(resolved, 'options');
    if (!isWordSplitterName(resolved.wordSplitter)) throw new RangeError(`wordSplitter must be 'regex' or 'intl', got ${JSON.stringify(options.wordSplitter)}`);
    const positiveInt = (name: string, v: unknown) => {
      if (!Number.isInteger(v) || (v as number) < 1) throw new RangeError(`${name} must be a positive integer, got ${String(v)}`);
    };
    positiveInt('batchSize', resolved.batchSize);
    positiveInt('maxLen', resolved.maxLen);
    if (typeof resolved.truncate !== 'boolean') throw new TypeError(`truncate must be a boolean, got ${String(options.truncate)}`);
    if (typeof resolved.mergeAdjacent !== 'boolean') throw new TypeError(`mergeAdjacent must be a boolean, got ${String(options.mergeAdjacent)}`);
    const ov = resolved.windowOverlap;
    if (!Number.isInteger(ov) || ov < this.config.maxWidth - 1 || ov >= maxLen) {
      throw new RangeError(`windowOverlap must be an integer in [max_width - 1 = ${this.config.maxWidth - 1}, maxLen = ${maxLen}), got ${String(ov)}`);
    }
    return resolved;
  }

  /**
   * Validates labels (names, or an object name -> description) and returns a per-text lookup of
   * the de-duplicated names and what to prompt for each.
   */
  private labelResolver(labels: LabelSpec | readonly LabelSpec[], numTexts: number): (i: number) => { names: string[]; prompts: string[] } {
    if (!Array.isArray(labels) && !isDescriptionMap(labels)) {
      throw new TypeError('labels must be an array of strings, an object of "label": "description", or one of those per text');
    }
    const reserved = this.reservedLabelTokens();
    const check = (spec: LabelSpec, where: string) => {
      if (Array.isArray(spec)) {
        spec.forEach((l, i) => {
          if (typeof l !== 'string') throw new TypeError(`${where}[${i}] must be a string, got ${l === null ? 'null' : typeof l}`);
          if (l.trim() === '') throw new Error(`${where}[${i}] is an empty label`);
        });
      } else if (!isDescriptionMap(spec)) {
        throw new TypeError(`${where} must be an array of strings or an object of "label": "description"`);
      }
      const resolved = resolveLabelSpec(spec, where);
      if (resolved.names.length === 0) throw new Error(`${where} is empty: give at least one entity label`);
      // What is prompted (names and descriptions) must not hold the prompt's own tokens.
      resolved.names.forEach((name, i) => {
        for (const text of [name, resolved.prompts[i]]) {
          const token = findReservedToken(text, reserved);
          if (token !== null) throw new LabelTokenError(text, token, Array.isArray(spec) ? `${where}[${i}]` : `${where}.${name}`);
        }
      });
      return resolved;
    };
    const perText = Array.isArray(labels) && labels.length > 0 && typeof labels[0] === 'object' && labels[0] !== null;
    if (!perText) {
      const shared = check(labels as LabelSpec, 'labels');
      return () => shared;
    }
    if (labels.length !== numTexts) throw new Error(`labels has ${labels.length} lists but there are ${numTexts} texts`);
    const lists = (labels as readonly LabelSpec[]).map((l, i) => check(l, `labels[${i}]`));
    return (i) => lists[i];
  }

  /** Strings a label must not contain (the tokenizer's special and added tokens). */
  reservedLabelTokens(): string[] {
    return reservedTokens(this.tokenizer as GlinerTokenizer & ReservedTokenSource, { entToken: this.config.entToken, sepToken: this.config.sepToken });
  }

  /**
   * Loss and gradients of one batch of training examples, for users who write their own loop.
   * Nothing is updated; no tensors are left behind.
   */
  lossAndGradients(examples: readonly TrainingRecord[], options: LossAndGradientsOptions = {}): LossAndGradients {
    if (this.disposed) throw new ModelDisposedError('lossAndGradients after dispose()');
    if (!Array.isArray(examples) || examples.length === 0) throw new Error('lossAndGradients: examples must be a non-empty array');
    const normalized = examples.map((e, i) => {
      try {
        return 'tokens' in e && 'spans' in e ? (e as TrainingExample) : normalizeGlinerRecord(e);
      } catch (err) {
        throw new Error(`lossAndGradients: examples[${i}]: ${(err as Error).message}`);
      }
    });
    const lossOptions = {
      alpha: options.lossAlpha ?? -1,
      gamma: options.lossGamma ?? 0,
      labelSmoothing: options.labelSmoothing ?? 0,
      reduction: options.reduction ?? 'sum',
    };
    validateLossOptions(lossOptions);
    let classes: string[][];
    const given = options.classes;
    if (given === undefined) {
      classes = sampleBatchTypes(normalized, { maxTypes: this.config.maxTypes, maxNegTypeRatio: this.config.maxNegTypeRatio }, new Rng(options.seed ?? 0));
    } else if (given.length > 0 && Array.isArray(given[0])) {
      if (given.length !== normalized.length) throw new Error(`lossAndGradients: ${given.length} class lists for ${normalized.length} examples`);
      classes = (given as readonly (readonly string[])[]).map((c) => [...c]);
    } else {
      classes = normalized.map(() => [...(given as readonly string[])]);
    }
    const batch = prepareSpanBatch(normalized, classes, { maxLen: this.config.maxLen, maxWidth: this.config.maxWidth });
    const result = lossAndGrads({ model: this.model, tokenizer: this.tokenizer, classTokenId: this.classTokenId }, batch, lossOptions, options.training ?? true);
    try {
      return {
        loss: result.loss.dataSync()[0],
        gradients: gradsToStored(this.model, result.grads),
        gradNorm: globalGradNorm(result.grads.values()),
      };
    } finally {
      result.loss.dispose();
      for (const g of result.grads.values()) g.dispose();
    }
  }

  /**
   * Free the model's tensors. The object cannot be used afterwards: later calls throw
   * ModelDisposedError, and calls still running fail with it before their next forward pass
   * (never with a half-freed model); the tensors are freed once the last of them has stopped.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.inFlight === 0) this.model.dispose();
  }
}
