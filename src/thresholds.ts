/**
 * Which span candidates survive before greedy decoding: one threshold for all labels
 * (upstream), a threshold per label (calibrated on dev data, see calibrate.ts), and two
 * "dynamic" rules that adapt to each text's scores:
 *
 *   relativeThreshold r   keep a candidate of label l only if its score >= r * the best score
 *                         of l in that text (after the absolute thresholds);
 *   topK k                keep at most the k best candidates of each label per text.
 *
 * All of it runs on the candidates (host numbers), after the forward pass and before the
 * flat / nested selection, so it never changes what the model computes.
 */
import type { Span } from './decoding';

export interface ThresholdOptions {
  /** Default threshold for every label (strictly above). */
  threshold: number;
  /** Per-label thresholds by label name; labels absent here use `threshold`. */
  thresholds?: Readonly<Record<string, number>>;
  /** In (0, 1]: keep scores >= r * the label's best score in the text. */
  relativeThreshold?: number;
  /** Keep at most k candidates per label per text. */
  topK?: number;
}

export class ThresholdError extends Error {
  readonly code = 'BAD_THRESHOLDS';
  constructor(message: string) {
    super(message);
    this.name = 'ThresholdError';
  }
}

const inUnit = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;

/** Throws, naming the option (and label), unless the threshold options are well formed. */
export function validateThresholdOptions(o: Partial<ThresholdOptions>, where = 'options'): void {
  if (o.thresholds !== undefined) {
    if (typeof o.thresholds !== 'object' || o.thresholds === null || Array.isArray(o.thresholds)) {
      throw new ThresholdError(`${where}.thresholds must be an object of "label": threshold`);
    }
    for (const [label, t] of Object.entries(o.thresholds)) {
      if (!inUnit(t)) throw new ThresholdError(`${where}.thresholds.${label} must be a number in [0, 1], got ${JSON.stringify(t)}`);
    }
  }
  const r = o.relativeThreshold;
  if (r !== undefined && !(typeof r === 'number' && Number.isFinite(r) && r > 0 && r <= 1)) {
    throw new ThresholdError(`${where}.relativeThreshold must be a number in (0, 1], got ${JSON.stringify(r)}`);
  }
  const k = o.topK;
  if (k !== undefined && !(Number.isInteger(k) && (k as number) >= 1)) throw new ThresholdError(`${where}.topK must be a positive integer, got ${JSON.stringify(k)}`);
}

/** The lowest threshold in use: candidates are collected above it, then filtered per label. */
export function candidateFloor(o: ThresholdOptions): number {
  let t = o.threshold;
  if (o.thresholds) for (const v of Object.values(o.thresholds)) t = Math.min(t, v);
  return t;
}

/** The threshold for one label. */
export function thresholdFor(o: ThresholdOptions, label: string): number {
  const t = o.thresholds && Object.prototype.hasOwnProperty.call(o.thresholds, label) ? o.thresholds[label] : undefined;
  return t ?? o.threshold;
}

/**
 * The candidates of one text that pass the per-label thresholds and the dynamic rules, in
 * their original order. `labels[c.classIndex]` is a candidate's label name.
 */
export function filterCandidates(candidates: readonly Span[], labels: readonly string[], o: ThresholdOptions): Span[] {
  const f32 = Math.fround;
  const limits = labels.map((l) => f32(thresholdFor(o, l)));
  let kept = candidates.filter((c) => c.score > limits[c.classIndex]);
  if (o.relativeThreshold !== undefined) {
    const best = new Map<number, number>();
    for (const c of kept) best.set(c.classIndex, Math.max(best.get(c.classIndex) ?? 0, c.score));
    const r = o.relativeThreshold;
    kept = kept.filter((c) => c.score >= r * best.get(c.classIndex)!);
  }
  if (o.topK !== undefined) {
    const k = o.topK;
    const byClass = new Map<number, Span[]>();
    for (const c of kept) {
      let list = byClass.get(c.classIndex);
      if (!list) byClass.set(c.classIndex, (list = []));
      list.push(c);
    }
    const allowed = new Set<Span>();
    for (const list of byClass.values()) {
      // stable: equal scores keep candidate order
      for (const c of [...list].sort((a, b) => b.score - a.score).slice(0, k)) allowed.add(c);
    }
    kept = kept.filter((c) => allowed.has(c));
  }
  return kept;
}
