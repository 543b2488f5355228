/**
 * Evaluation of a GLiNER model on annotated, pre-split examples, as upstream's
 * `GLiNER.evaluate` + `BaseNEREvaluator` score it: every example is prompted with the same
 * entity types (all types of the evaluation set unless given), spans are decoded with the
 * inference path (forward in eval mode, sigmoid > threshold, greedy flat/nested selection) and a
 * prediction counts only if (start, end, label) matches a gold span exactly.
 *
 * Micro precision / recall / F1 over all spans, plus the same per label. Gold spans the model
 * cannot see (past max_len words) stay in the gold set, so they count as misses, as upstream.
 *
 * Per-type files (Universal-NER's CrossNER / MIT files: one record per (text, entity type), each
 * carrying the gold spans of its own type only) are merged: records that restrict their types
 * (`ner_labels`, or the questions of a Pile-NER conversation) and share the same words become one
 * text, prompted with the union of their types and scored against the union of their spans. So a
 * per-type file scores exactly as the same content written one record per text, and each text
 * costs one forward pass instead of one per type. Records without a restricted type set are
 * scored as they are, against every type of the evaluation set.
 */
import { GlinerConfig } from '../config';
import { GlinerModel } from '../model';
import { DECODERS } from '../decoders';
import { WordTokenizer, uniqueLabels } from '../processing/batch';
import { spanLogits } from '../span-logits';
import { mergeDescriptions, promptsFor } from '../processing/label-descriptions';
import { TrainingExample } from './data';

/** What prediction needs: a GLiNER instance satisfies it. */
export interface PredictTarget {
  config: GlinerConfig;
  model: GlinerModel;
  tokenizer: WordTokenizer & { tokenToId(token: string): number | undefined };
}

export interface EvalOptions {
  /** Keep spans with probability above this. Default 0.5. */
  threshold?: number;
  /** No overlapping predictions (default true; upstream's evaluation scripts use flat NER). */
  flatNer?: boolean;
  multiLabel?: boolean;
  /** Texts per forward pass. Default 8. */
  batchSize?: number;
  /** Entity types to prompt; default: every type of the gold spans, sorted. */
  labels?: readonly string[];
  /** Text prompted for a type (label descriptions); default: the examples' `label_descriptions`. */
  descriptions?: Readonly<Record<string, string>>;
}

export interface LabelMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** Exact matches. */
  tp: number;
  /** Predicted spans that match no gold span. */
  fp: number;
  /** Gold spans not predicted. */
  fn: number;
  /** Gold spans (tp + fn). */
  support: number;
}

export interface EvalMetrics extends LabelMetrics {
  perLabel: Record<string, LabelMetrics>;
  /** Texts scored (after merging per-type records of the same text). */
  numExamples: number;
  /** Records read (before merging); equals numExamples when nothing was merged. */
  numRecords?: number;
  labels: string[];
}

export interface PredictedSpan {
  start: number;
  end: number;
  label: string;
  score: number;
}

/** P, R, F1 from counts; 0 where a ratio is 0/0 (sklearn's zero_division, as upstream). */
export function prf(tp: number, fp: number, fn: number): LabelMetrics {
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1, tp, fp, fn, support: tp + fn };
}

/**
 * Spans predicted for pre-split texts (word lists), with the same labels for every text or one
 * label list per text. Texts are cut to the model's max_len words; batches group texts of
 * similar length.
 */
export async function predictWordSpans(
  target: PredictTarget,
  texts: readonly (readonly string[])[],
  labels: readonly string[] | readonly (readonly string[])[],
  options: EvalOptions = {},
): Promise<PredictedSpan[][]> {
  const cfg = target.config;
  const threshold = options.threshold ?? 0.5;
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const perText = labels.length > 0 && Array.isArray(labels[0]);
  if (perText && labels.length !== texts.length) throw new Error(`predictWordSpans: ${texts.length} texts but ${labels.length} label lists`);
  const shared = perText ? null : uniqueLabels(labels as readonly string[]);
  const classesOf = (i: number) => shared ?? uniqueLabels((labels as readonly (readonly string[])[])[i]);
  const classTokenId = target.tokenizer.tokenToId(cfg.entToken);
  if (classTokenId === undefined) throw new Error(`the tokenizer has no '${cfg.entToken}' token`);
  const out: PredictedSpan[][] = texts.map(() => []);
  if (shared !== null && shared.length === 0) throw new Error('evaluation needs at least one entity label');
  // a text prompted with no type (e.g. `ner_labels: []`) has nothing to predict
  const order = texts.map((t, i) => ({ i, words: t.slice(0, cfg.maxLen), classes: classesOf(i) })).filter((t) => t.words.length > 0 && t.classes.length > 0);
  // similar lengths and label counts together: padding costs a forward pass its full width
  order.sort((a, b) => a.words.length - b.words.length || a.classes.length - b.classes.length);
  for (let k = 0; k < order.length; k += batchSize) {
    const chunk = order.slice(k, k + batchSize);
    const logits = await spanLogits(target, classTokenId, chunk.map((c) => ({ words: c.words, labels: promptsFor(c.classes, options.descriptions) })));
    chunk.forEach((c, b) => {
      const decoder = DECODERS[logits.output];
      const decode = { threshold, flatNer: options.flatNer ?? true, multiLabel: options.multiLabel ?? false, validClasses: c.classes.length };
      const candidates = decoder.candidates(logits.row(b), logits.dims, c.words.length, decode);
      const spans = decoder.select(candidates, c.words.length, logits.dims.maxWidth, decode);
      out[c.i] = spans.map((s) => ({ start: s.start, end: s.end, label: c.classes[s.classIndex], score: s.score }));
    });
  }
  return out;
}

/** Scores predictions against gold spans (both per example). */
export function scoreSpans(
  gold: readonly (readonly { start: number; end: number; label: string }[])[],
  predicted: readonly (readonly { start: number; end: number; label: string }[])[],
  labels: readonly string[],
): EvalMetrics {
  if (gold.length !== predicted.length) throw new Error(`scoreSpans: ${gold.length} gold lists but ${predicted.length} prediction lists`);
  const counts = new Map<string, { tp: number; fp: number; fn: number }>();
  const count = (label: string) => {
    let c = counts.get(label);
    if (!c) counts.set(label, (c = { tp: 0, fp: 0, fn: 0 }));
    return c;
  };
  for (const l of labels) count(l);
  const key = (s: { start: number; end: number; label: string }) => `${s.start}\u0000${s.end}\u0000${s.label}`;
  gold.forEach((g, i) => {
    const goldKeys = new Map(g.map((s) => [key(s), s.label]));
    const predKeys = new Map(predicted[i].map((s) => [key(s), s.label]));
    for (const [k, label] of predKeys) {
      if (goldKeys.has(k)) count(label).tp++;
      else count(label).fp++;
    }
    for (const [k, label] of goldKeys) if (!predKeys.has(k)) count(label).fn++;
  });
  let tp = 0;
  let fp = 0;
  let fn = 0;
  const perLabel: Record<string, LabelMetrics> = {};
  for (const [label, c] of [...counts].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    perLabel[label] = prf(c.tp, c.fp, c.fn);
    tp += c.tp;
    fp += c.fp;
    fn += c.fn;
  }
  return { ...prf(tp, fp, fn), perLabel, numExamples: gold.length, labels: [...labels] };
}

/** Every entity type of the gold spans (and ner_labels), sorted. */
export function datasetLabels(examples: readonly TrainingExample[]): string[] {
  const set = new Set<string>();
  for (const ex of examples) {
    for (const s of ex.spans) set.add(s.label);
    for (const l of ex.labels ?? []) set.add(l);
    for (const l of ex.askedTypes ?? []) set.add(l);
  }
  return [...set].sort();
}

/** One text to score: its words, gold spans and the types to prompt (null: every type of the set). */
export interface EvalItem {
  tokens: readonly string[];
  spans: readonly { start: number; end: number; label: string }[];
  types: string[] | null;
}

/** The types a record restricts itself to: `ner_labels`, else the questions it asked, else null. */
function recordTypes(ex: TrainingExample): string[] | null {
  return ex.labels ?? ex.askedTypes ?? null;
}

/**
 * Evaluation items from records: records with their own type set that share the same words are
 * merged (union of types, union of spans, first-seen order); the others stay as they are.
 */
export function mergeEvalRecords(examples: readonly TrainingExample[]): EvalItem[] {
  const items: EvalItem[] = [];
  const byText = new Map<string, { item: EvalItem; seen: Set<string> }>();
  const spanKey = (s: { start: number; end: number; label: string }) => `${s.start}\u0000${s.end}\u0000${s.label}`;
  for (const ex of examples) {
    const types = recordTypes(ex);
    if (types === null) {
      items.push({ tokens: ex.tokens, spans: ex.spans, types: null });
      continue;
    }
    const key = ex.tokens.join('\u0001');
    const group = byText.get(key);
    if (group === undefined) {
      const item: EvalItem = { tokens: ex.tokens, spans: [...ex.spans], types: uniqueLabels([...types, ...ex.spans.map((s) => s.label)]) };
      items.push(item);
      byText.set(key, { item, seen: new Set(ex.spans.map(spanKey)) });
      continue;
    }
    const { item, seen } = group;
    item.types = uniqueLabels([...item.types!, ...types, ...ex.spans.map((s) => s.label)]);
    for (const s of ex.spans) {
      if (seen.has(spanKey(s))) continue;
      seen.add(spanKey(s));
      (item.spans as { start: number; end: number; label: string }[]).push(s);
    }
  }
  return items;
}

/**
 * Predict on `examples` and score against their gold spans. With `options.labels`, every text is
 * prompted with exactly those types; otherwise each text with its own type set (see
 * mergeEvalRecords), or every type of the set for records that have none.
 */
export async function evaluateExamples(target: PredictTarget, examples: readonly TrainingExample[], options: EvalOptions = {}): Promise<EvalMetrics> {
  if (examples.length === 0) throw new Error('evaluation set is empty');
  const labels = options.labels ? uniqueLabels(options.labels) : datasetLabels(examples);
  if (labels.length === 0) throw new Error('the evaluation set has no entity labels: give labels explicitly');
  const items = mergeEvalRecords(examples);
  const promptFor = (it: EvalItem) => (options.labels ? labels : (it.types ?? labels));
  const descriptions = options.descriptions ?? mergeDescriptions(examples.map((e) => e.descriptions));
  const predicted = await predictWordSpans(
    target,
    items.map((e) => e.tokens),
    items.map(promptFor),
    { ...options, descriptions },
  );
  const metrics = scoreSpans(
    items.map((e) => e.spans),
    predicted,
    labels,
  );
  return { ...metrics, numRecords: examples.length };
}

/** "P 91.20% R 88.00% F1 89.57%" */
export function formatMetrics(m: LabelMetrics): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  return `P ${pct(m.precision)} R ${pct(m.recall)} F1 ${pct(m.f1)}`;
}
