/**
 * Evaluation of a GLiNER model on annotated, pre-split examples, as upstream's
 * `GLiNER.evaluate` + `BaseNEREvaluator` score it: every example is prompted with the same
 * entity types (all types of the evaluation set unless given), spans are decoded with the
 * inference path (forward in eval mode, sigmoid > threshold, greedy flat/nested selection) and a
 * prediction counts only if (start, end, label) matches a gold span exactly.
 *
 * Micro precision / recall / F1 over all spans, plus the same per label. Gold spans the model
 * cannot see (past max_len words) stay in the gold set, so they count as misses, as upstream.
 */
import { GlinerConfig } from '../config';
import { GlinerModel } from '../model';
import { decodeSpans } from '../decoding';
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
  numExamples: number;
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
 * Spans predicted for pre-split texts (word lists), with the same labels for every text.
 * Texts are cut to the model's max_len words; batches group texts of similar length.
 */
export async function predictWordSpans(
  target: PredictTarget,
  texts: readonly (readonly string[])[],
  labels: readonly string[],
  options: EvalOptions = {},
): Promise<PredictedSpan[][]> {
  const cfg = target.config;
  const threshold = options.threshold ?? 0.5;
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const classes = uniqueLabels(labels);
  if (classes.length === 0) throw new Error('evaluation needs at least one entity label');
  const prompts = promptsFor(classes, options.descriptions);
  const classTokenId = target.tokenizer.tokenToId(cfg.entToken);
  if (classTokenId === undefined) throw new Error(`the tokenizer has no '${cfg.entToken}' token`);
  const out: PredictedSpan[][] = texts.map(() => []);
  const order = texts.map((t, i) => ({ i, words: t.slice(0, cfg.maxLen) })).filter((t) => t.words.length > 0);
  order.sort((a, b) => a.words.length - b.words.length);
  for (let k = 0; k < order.length; k += batchSize) {
    const chunk = order.slice(k, k + batchSize);
    const logits = await spanLogits(target, classTokenId, chunk.map((c) => ({ words: c.words, labels: prompts })));
    chunk.forEach((c, b) => {
      const spans = decodeSpans(logits.row(b), logits.dims, c.words.length, {
        threshold,
        flatNer: options.flatNer ?? true,
        multiLabel: options.multiLabel ?? false,
        validClasses: classes.length,
      });
      out[c.i] = spans.map((s) => ({ start: s.start, end: s.end, label: classes[s.classIndex], score: s.score }));
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
  }
  return [...set].sort();
}

/** Predict on `examples` and score against their gold spans. */
export async function evaluateExamples(target: PredictTarget, examples: readonly TrainingExample[], options: EvalOptions = {}): Promise<EvalMetrics> {
  if (examples.length === 0) throw new Error('evaluation set is empty');
  const labels = options.labels ? uniqueLabels(options.labels) : datasetLabels(examples);
  if (labels.length === 0) throw new Error('the evaluation set has no entity labels: give labels explicitly');
  const descriptions = options.descriptions ?? mergeDescriptions(examples.map((e) => e.descriptions));
  const predicted = await predictWordSpans(
    target,
    examples.map((e) => e.tokens),
    labels,
    { ...options, descriptions },
  );
  return scoreSpans(
    examples.map((e) => e.spans),
    predicted,
    labels,
  );
}

/** "P 91.20% R 88.00% F1 89.57%" */
export function formatMetrics(m: LabelMetrics): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  return `P ${pct(m.precision)} R ${pct(m.recall)} F1 ${pct(m.f1)}`;
}
