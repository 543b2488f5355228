/**
 * Threshold calibration on annotated dev data: the threshold per label (and one global
 * fallback) that maximises micro F1, plus a measurement of the "dynamic" rules
 * (relativeThreshold, topK; see thresholds.ts).
 *
 * The model runs once: every candidate span above the lowest threshold tried is kept with its
 * score, and each setting is then decoded on the host (per-label filter + the same greedy
 * flat / nested selection as prediction), which gives exactly what prediction with that
 * setting would output.
 *
 * Search: the global threshold first (grid, ties broken towards 0.5), then coordinate ascent
 * over the labels, each label's threshold re-chosen on the grid with the others fixed, until a
 * round changes nothing (at most `rounds`). F1 is in-sample: judge it on data not used here.
 */
import { Span, greedySelect, spanCandidates } from '../decoding';
import { spanLogits } from '../span-logits';
import { ThresholdOptions, filterCandidates } from '../thresholds';
import { mergeDescriptions, promptsFor } from '../processing/label-descriptions';
import { uniqueLabels } from '../processing/batch';
import { EvalMetrics, PredictTarget, datasetLabels, scoreSpans } from './evaluate';
import { TrainingExample } from './data';

export interface CandidateSet {
  labels: string[];
  maxWidth: number;
  /** Per example: its word count and every candidate above `floor`. */
  texts: { numWords: number; candidates: Span[] }[];
  gold: { start: number; end: number; label: string }[][];
  floor: number;
}

export interface CollectOptions {
  labels?: readonly string[];
  descriptions?: Readonly<Record<string, string>>;
  /** Candidates with a score above this are kept (the lowest threshold that can be tried). */
  floor?: number;
  batchSize?: number;
}

/** Run the model once over `examples` and keep every candidate span above `floor`. */
export async function collectCandidates(target: PredictTarget, examples: readonly TrainingExample[], options: CollectOptions = {}): Promise<CandidateSet> {
  if (examples.length === 0) throw new Error('calibration needs annotated examples');
  const cfg = target.config;
  const labels = options.labels ? uniqueLabels(options.labels) : datasetLabels(examples);
  if (labels.length === 0) throw new Error('the data has no entity labels: give labels explicitly');
  const prompts = promptsFor(labels, options.descriptions ?? mergeDescriptions(examples.map((e) => e.descriptions)));
  const floor = options.floor ?? 0.005;
  const batchSize = options.batchSize ?? 8;
  const classTokenId = target.tokenizer.tokenToId(cfg.entToken);
  if (classTokenId === undefined) throw new Error(`the tokenizer has no '${cfg.entToken}' token`);
  const texts = examples.map(() => ({ numWords: 0, candidates: [] as Span[] }));
  const order = examples.map((e, i) => ({ i, words: e.tokens.slice(0, cfg.maxLen) })).filter((t) => t.words.length > 0);
  order.sort((a, b) => a.words.length - b.words.length);
  for (let k = 0; k < order.length; k += batchSize) {
    const chunk = order.slice(k, k + batchSize);
    const logits = await spanLogits(target, classTokenId, chunk.map((c) => ({ words: c.words, labels: prompts })));
    chunk.forEach((c, b) => {
      texts[c.i] = {
        numWords: c.words.length,
        candidates: spanCandidates(logits.row(b), logits.dims, c.words.length, { threshold: floor, flatNer: true, multiLabel: false, validClasses: labels.length }),
      };
    });
  }
  return { labels, maxWidth: cfg.maxWidth, texts, gold: examples.map((e) => e.spans), floor };
}

export interface DecodeSetting extends ThresholdOptions {
  flatNer?: boolean;
  multiLabel?: boolean;
}

/** Metrics of one threshold setting over collected candidates. */
export function scoreSetting(set: CandidateSet, setting: DecodeSetting): EvalMetrics {
  const predicted = set.texts.map((t) => {
    const kept = filterCandidates(t.candidates, set.labels, setting);
    const spans = greedySelect(kept, t.numWords, set.maxWidth, { flatNer: setting.flatNer ?? true, multiLabel: setting.multiLabel ?? false });
    return spans.map((s) => ({ start: s.start, end: s.end, label: set.labels[s.classIndex] }));
  });
  return scoreSpans(set.gold, predicted, set.labels);
}

export interface CalibrationOptions {
  /** Thresholds tried; default 0.01, 0.02, ..., 0.95. */
  grid?: readonly number[];
  /** The threshold reported as "before" (default 0.5). */
  baseline?: number;
  flatNer?: boolean;
  rounds?: number;
}

export interface CalibrationResult {
  /** Global fallback threshold (best single threshold). */
  threshold: number;
  /** Per-label thresholds. */
  thresholds: Record<string, number>;
  before: { threshold: number; f1: number; perLabel: Record<string, number> };
  globalOnly: { threshold: number; f1: number };
  after: { f1: number; perLabel: Record<string, number> };
  /** Dynamic rules on the same data (at the baseline and at the calibrated thresholds). */
  dynamic: { setting: string; f1: number }[];
  examples: number;
}

export function defaultGrid(): number[] {
  return Array.from({ length: 95 }, (_, i) => Math.round((0.01 + i * 0.01) * 100) / 100);
}

const perLabelF1 = (m: EvalMetrics) => Object.fromEntries(Object.entries(m.perLabel).map(([l, x]) => [l, x.f1]));

/** Choose per-label thresholds and a global fallback that maximise micro F1 (see the module comment). */
export function calibrateThresholds(set: CandidateSet, options: CalibrationOptions = {}): CalibrationResult {
  const grid = [...(options.grid ?? defaultGrid())].sort((a, b) => a - b);
  if (grid.length === 0 || grid.some((t) => !(t >= 0 && t <= 1))) throw new RangeError('the threshold grid must be numbers in [0, 1]');
  if (grid[0] < set.floor) throw new RangeError(`the grid starts at ${grid[0]}, below the candidate floor ${set.floor}`);
  const baseline = options.baseline ?? 0.5;
  const flatNer = options.flatNer ?? true;
  const f1Of = (o: ThresholdOptions) => scoreSetting(set, { ...o, flatNer }).f1;
  const better = (f1: number, t: number, bestF1: number, bestT: number) => f1 > bestF1 + 1e-12 || (Math.abs(f1 - bestF1) <= 1e-12 && Math.abs(t - baseline) < Math.abs(bestT - baseline));

  const beforeMetrics = scoreSetting(set, { threshold: baseline, flatNer });
  let global = grid[0];
  let globalF1 = -1;
  for (const t of grid) {
    const f1 = f1Of({ threshold: t });
    if (better(f1, t, globalF1, global)) {
      global = t;
      globalF1 = f1;
    }
  }
  const thresholds: Record<string, number> = Object.fromEntries(set.labels.map((l) => [l, global]));
  let current = globalF1;
  for (let round = 0; round < (options.rounds ?? 3); round++) {
    let changed = false;
    for (const label of set.labels) {
      let bestT = thresholds[label];
      let bestF1 = current;
      for (const t of grid) {
        if (t === thresholds[label]) continue;
        const f1 = f1Of({ threshold: global, thresholds: { ...thresholds, [label]: t } });
        if (f1 > bestF1 + 1e-12) {
          bestF1 = f1;
          bestT = t;
        }
      }
      if (bestT !== thresholds[label]) {
        thresholds[label] = bestT;
        current = bestF1;
        changed = true;
      }
    }
    if (!changed) break;
  }
  const afterMetrics = scoreSetting(set, { threshold: global, thresholds, flatNer });
  const dynamic: { setting: string; f1: number }[] = [];
  for (const r of [0.5, 0.7, 0.9]) dynamic.push({ setting: `threshold ${baseline} + relativeThreshold ${r}`, f1: f1Of({ threshold: baseline, relativeThreshold: r }) });
  for (const k of [1, 2, 3]) dynamic.push({ setting: `threshold ${baseline} + topK ${k}`, f1: f1Of({ threshold: baseline, topK: k }) });
  for (const r of [0.5, 0.7, 0.9]) dynamic.push({ setting: `threshold ${set.floor} + relativeThreshold ${r}`, f1: f1Of({ threshold: set.floor, relativeThreshold: r }) });
  for (const r of [0.5, 0.7]) dynamic.push({ setting: `calibrated + relativeThreshold ${r}`, f1: f1Of({ threshold: global, thresholds, relativeThreshold: r }) });
  return {
    threshold: global,
    thresholds,
    before: { threshold: baseline, f1: beforeMetrics.f1, perLabel: perLabelF1(beforeMetrics) },
    globalOnly: { threshold: global, f1: globalF1 },
    after: { f1: afterMetrics.f1, perLabel: perLabelF1(afterMetrics) },
    dynamic,
    examples: set.texts.length,
  };
}
