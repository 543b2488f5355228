/**
 * Token-level decoding, following upstream GLiNER's `TokenDecoder` (gliner/decoding/decoder.py,
 * v0.2.27), for logits [L, C, 3] = (start, end, inside) of one batch row:
 *
 * 1. starts: every (w, c) with sigmoid(start) > threshold; ends likewise; row-major (w, then c).
 * 2. for each start (s, c) and each end (e, c) of the same class with e >= s, in that order: a
 *    candidate unless some inside prob in s..e is < threshold (strictly); its score is
 *    min(inside probs of s..e, start prob at s, end prob at e). No width limit.
 * 3. the span decoder's greedy search (flat / nested / multi-label rules), without a width bound.
 *
 * Where upstream goes wrong we do not follow it: it also takes starts and ends in the padding of
 * shorter texts of a batch (and then crashes mapping them to characters), and in padded classes
 * (then a KeyError). We consider only words inside the text and the row's real classes, so a
 * text decodes the same alone or in any batch.
 */
import { DecodeOptions, Span, sigmoid32, validateDecodeOptions } from './decoding';

export interface TokenDims {
  /** L: words in the (padded) batch row. */
  length: number;
  /** C: classes in the logits. */
  numClasses: number;
}

/** Candidates of one row in upstream's order (start word, class, end word). */
export function tokenCandidates(logits: Float32Array, dims: TokenDims, textLength: number, options: DecodeOptions): Span[] {
  const { length: L, numClasses: C } = dims;
  validateDecodeOptions(options, C);
  if (!Number.isInteger(textLength) || textLength < 0) throw new RangeError(`textLength must be an integer >= 0, got ${String(textLength)}`);
  if (logits.length !== L * C * 3) throw new RangeError(`logits has ${logits.length} values but dims [${L}, ${C}, 3] need ${L * C * 3}`);
  const words = Math.min(L, textLength);
  const classes = options.validClasses ?? C;
  const t = Math.fround(options.threshold);
  const prob = (w: number, c: number, channel: number) => sigmoid32(logits[(w * C + c) * 3 + channel]);
  const candidates: Span[] = [];
  for (let s = 0; s < words; s++) {
    for (let c = 0; c < classes; c++) {
      const ps = prob(s, c, 0);
      if (!(ps > t)) continue;
      // Walk the ends rightwards; once an inside prob is below t, no longer span can pass.
      let minInside = Infinity;
      for (let e = s; e < words; e++) {
        const pi = prob(e, c, 2);
        if (pi < t) break;
        minInside = Math.min(minInside, pi);
        const pe = prob(e, c, 1);
        if (!(pe > t)) continue;
        candidates.push({ start: s, end: e, classIndex: c, score: Math.min(minInside, ps, pe) });
      }
    }
  }
  return candidates;
}

/**
 * Greedy search over spans of any width (the rules of decoding.ts `greedySelect`): highest score
 * first with a stable sort, a span is dropped if it clashes with a kept one, result sorted by start.
 */
export function greedySelectAnyWidth(candidates: readonly Span[], options: Pick<DecodeOptions, 'flatNer' | 'multiLabel'>): Span[] {
  const ordered = [...candidates].sort((a, b) => b.score - a.score);
  const kept: Span[] = [];
  for (const span of ordered) {
    if (!kept.some((k) => clash(k, span, options.flatNer, options.multiLabel))) kept.push(span);
  }
  return kept.sort((a, b) => a.start - b.start);
}

function clash(a: Span, b: Span, flat: boolean, multiLabel: boolean): boolean {
  if (a.start === b.start && a.end === b.end) return !multiLabel;
  if (a.start > b.end || b.start > a.end) return false;
  if (flat) return true;
  const nested = (a.start <= b.start && a.end >= b.end) || (b.start <= a.start && b.end >= a.end);
  return !nested;
}
