/**
 * Span decoding, following upstream GLiNER's `SpanDecoder` (gliner/decoding/decoder.py and
 * gliner/decoding/utils.py at v0.2.27):
 *
 * 1. probs = sigmoid(logits) in float32 (rounded step by step as torch does, see sigmoid32).
 * 2. Candidates are every (start, width, class) with prob > threshold, in row-major order of the
 *    [L, maxWidth, C] tensor (what `torch.where` yields), keeping only spans whose end word
 *    `start + width` lies inside the text.
 * 3. Greedy search: candidates sorted by score descending with a stable sort (ties keep candidate
 *    order); a candidate is kept unless it clashes with an already kept span:
 *      - same (start, end): clash unless multiLabel;
 *      - flatNer: any other overlap clashes;
 *      - nested (flatNer = false): only partial overlaps clash (nesting is fine).
 * 4. Kept spans are stable-sorted by start.
 */
import type { Word } from './processing/word-splitter';

/** A decoded span in word indices. */
export interface Span {
  /** First word (inclusive). */
  start: number;
  /** Last word (inclusive). */
  end: number;
  /** 0-based class index (upstream label id minus 1). */
  classIndex: number;
  /** Sigmoid probability, a float32 value. */
  score: number;
}

export interface SpanDims {
  /** L: number of words in the (padded) batch row. */
  length: number;
  /** Maximum span width in words. */
  maxWidth: number;
  /** C: number of classes in the logits. */
  numClasses: number;
}

export interface DecodeOptions {
  /** Keep spans with probability strictly above this, in [0, 1]. */
  threshold: number;
  /** true: no overlapping entities; false: nesting allowed, partial overlaps rejected. */
  flatNer: boolean;
  /** Allow several labels for the same span. */
  multiLabel: boolean;
  /**
   * Only classes below this index are decoded (default: all `numClasses`). In a batch where texts
   * have different label counts, the padded classes still get logits; upstream would fail with a
   * KeyError if one of them fired, so callers should pass the real count for the row.
   */
  validClasses?: number;
}

/** An entity with UTF-16 character offsets (`text.slice(start, end) === entity.text`). */
export interface Entity {
  start: number;
  end: number;
  text: string;
  label: string;
  score: number;
}

/** Throw unless the decoding options are well formed. Error messages name the bad option. */
export function validateDecodeOptions(options: DecodeOptions, numClasses?: number): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('decode options must be an object');
  const { threshold, flatNer, multiLabel, validClasses } = options;
  if (typeof threshold !== 'number' || !Number.isFinite(threshold) || threshold < 0 || threshold > 1) {
    throw new RangeError(`threshold must be a finite number in [0, 1], got ${String(threshold)}`);
  }
  if (typeof flatNer !== 'boolean') throw new TypeError(`flatNer must be a boolean, got ${String(flatNer)}`);
  if (typeof multiLabel !== 'boolean') throw new TypeError(`multiLabel must be a boolean, got ${String(multiLabel)}`);
  if (validClasses !== undefined) {
    const max = numClasses ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isInteger(validClasses) || validClasses < 0 || validClasses > max) {
      throw new RangeError(`validClasses must be an integer in [0, ${max}], got ${String(validClasses)}`);
    }
  }
}

function checkCount(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
}

const f32 = Math.fround;

/** float32 fused multiply-add: a*b of two float32 values is exact in float64, leaving one rounding. */
function fmaf(a: number, b: number, c: number): number {
  return f32(a * b + c);
}

/** Round half to even, as the SIMD float->int conversion does (Math.round rounds half up). */
function rintf(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// Constants of SLEEF's single-precision exp (range reduction by ln 2, degree-6 polynomial).
const LOG2E = f32(1.4426950408889634);
const LN2_HI = f32(0.693145751953125);
const LN2_LO = f32(1.428606765330187e-6);
const P0 = f32(1.9852761761285365e-4);
const P1 = f32(1.3930435525253415e-3);
const P2 = f32(8.333360776305199e-3);
const P3 = f32(4.1666485369205475e-2);
const P4 = f32(0.1666666716337204);

/**
 * expf as torch's CPU kernels compute it for vectorised float32 data (SLEEF `expf_u10`, evaluated
 * with FMA), reproduced operation by operation in float32.
 */
function expf(d: number): number {
  const q = rintf(f32(d * LOG2E));
  let s = fmaf(q, -LN2_HI, d);
  s = fmaf(q, -LN2_LO, s);
  let u = fmaf(fmaf(fmaf(fmaf(P0, s, P1), s, P2), s, P3), s, P4);
  u = fmaf(u, s, 0.5);
  u = f32(1 + fmaf(f32(s * s), u, s));
  // Scale by 2^q in two halves so that neither factor overflows (SLEEF's ldexp2).
  const h = q >> 1;
  u = f32(f32(u * 2 ** h) * 2 ** (q - h));
  if (d < -104) return 0;
  if (d > 100) return Infinity;
  return u; // NaN stays NaN
}

/**
 * Sigmoid as torch 1.13 computes a float32 tensor on CPU: 1 / (1 + exp(-x)) with every step rounded
 * to float32 and SLEEF's expf. Matching the roundings matters beyond the 1e-4 score tolerance: the
 * float32 rounding of `1 + exp(-x)` decides which saturated scores tie, and ties decide the greedy
 * order. This is bit-exact with every reference score that torch's vector loop produced; torch
 * computes the last (numel mod 16) elements of a tensor with libm's expf instead, which can differ
 * by one ulp. The input is first rounded to float32.
 */
export function sigmoid32(x: number): number {
  return f32(1 / f32(1 + expf(-f32(x))));
}

/**
 * Decode one batch row of span logits laid out [length, maxWidth, numClasses] into spans.
 * `textLength` is the number of real words in this row (spans ending at or past it are ignored).
 */
export function decodeSpans(logits: Float32Array, dims: SpanDims, textLength: number, options: DecodeOptions): Span[] {
  return greedySelect(spanCandidates(logits, dims, textLength, options), dims.length, dims.maxWidth, options);
}

/**
 * Every (start, width, class) whose probability is above the threshold and whose end lies inside
 * the text, in torch.where order (start, then width, then class).
 */
export function spanCandidates(logits: Float32Array, dims: SpanDims, textLength: number, options: DecodeOptions): Span[] {
  const { length: L, maxWidth: W, numClasses: C } = dims;
  checkCount('dims.length', L, 0);
  checkCount('dims.maxWidth', W, 1);
  checkCount('dims.numClasses', C, 0);
  checkCount('textLength', textLength, 0);
  validateDecodeOptions(options, C);
  if (logits.length !== L * W * C) {
    throw new RangeError(`logits has ${logits.length} values but dims [${L}, ${W}, ${C}] need ${L * W * C}`);
  }
  const classes = options.validClasses ?? C;
  // torch compares a float32 tensor with a Python float in float32, so round the threshold too.
  const threshold = f32(options.threshold);
  // Skip the exact sigmoid for logits that cannot pass: sigmoid32 stays within ~3e-7 of the true
  // sigmoid, so anything at or below logit(threshold - 1e-6) is out. NaN fails `>` and is skipped too.
  const floor = threshold - 1e-6;
  const cutoff = floor > 0 ? Math.log(floor / (1 - floor)) : -Infinity;
  const words = Math.min(L, textLength);

  // The end check is done while enumerating (same set, same order as filtering afterwards).
  const candidates: Span[] = [];
  for (let s = 0; s < words; s++) {
    const maxK = Math.min(W, words - s); // end = s + k must stay < words
    for (let k = 0; k < maxK; k++) {
      const base = (s * W + k) * C;
      for (let c = 0; c < classes; c++) {
        const x = logits[base + c];
        if (!(x > cutoff)) continue;
        const p = sigmoid32(x);
        if (p > threshold) candidates.push({ start: s, end: s + k, classIndex: c, score: p });
      }
    }
  }
  return candidates;
}

/**
 * Upstream's greedy search: highest score first (a stable sort keeps candidate order on ties),
 * dropping any span that clashes with one already kept; the result sorted by start.
 * `numWords` bounds the span starts, `maxWidth` the span widths.
 */
export function greedySelect(candidates: readonly Span[], numWords: number, maxWidth: number, options: Pick<DecodeOptions, 'flatNer' | 'multiLabel'>): Span[] {
  if (candidates.length === 0) return [];
  const W = maxWidth;
  // Array.prototype.sort is stable (ES2019), matching Python's sorted(key=-score).
  const ordered = [...candidates].sort((a, b) => b.score - a.score);

  // Kept spans as a [start, width] grid: any span that can overlap [s, e] starts within
  // [s - W + 1, e], so a clash check scans at most W * (W + width) cells instead of every kept span.
  const taken = new Uint8Array(numWords * W);
  const kept: Span[] = [];
  for (const span of ordered) {
    if (span.end - span.start >= W || span.end >= numWords) throw new RangeError(`span [${span.start}, ${span.end}] is outside ${numWords} words / width ${W}`);
    if (!clashes(taken, W, span.start, span.end, options.flatNer, options.multiLabel)) {
      kept.push(span);
      taken[span.start * W + (span.end - span.start)] = 1;
    }
  }
  kept.sort((a, b) => a.start - b.start);
  return kept;
}

/** Does span [s, e] clash with a kept span (upstream has_overlapping / has_overlapping_nested)? */
function clashes(taken: Uint8Array, W: number, s: number, e: number, flat: boolean, multiLabel: boolean): boolean {
  // Same boundaries: allowed only for multi-label decoding (never counts as an overlap then).
  if (taken[s * W + (e - s)] === 1 && !multiLabel) return true;
  for (let a = Math.max(0, s - W + 1); a <= e; a++) {
    const row = a * W;
    // Only kept spans [a, b] with b >= s can overlap [s, e].
    for (let k = Math.max(0, s - a); k < W; k++) {
      if (taken[row + k] === 0) continue;
      const b = a + k;
      if (a === s && b === e) continue;
      if (flat) return true;
      const nested = (a <= s && b >= e) || (s <= a && e >= b);
      if (!nested) return true;
    }
  }
  return false;
}

/**
 * Map word spans to entities with character offsets taken from `words` (UTF-16), labels from
 * `classNames[classIndex]`; order is preserved.
 */
export function spansToEntities(spans: readonly Span[], words: readonly Word[], text: string, classNames: readonly string[]): Entity[] {
  return spans.map((span) => {
    const first = words[span.start];
    const last = words[span.end];
    if (first === undefined || last === undefined || span.end < span.start) {
      throw new RangeError(`span [${span.start}, ${span.end}] is outside the ${words.length} words of the text`);
    }
    const label = classNames[span.classIndex];
    if (label === undefined) {
      throw new RangeError(`span class index ${span.classIndex} has no label (${classNames.length} labels given)`);
    }
    return { start: first.start, end: last.end, text: text.slice(first.start, last.end), label, score: span.score };
  });
}
