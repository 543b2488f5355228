/**
 * How each head output kind (heads.ts) is decoded: the one table the prediction and evaluation
 * paths consult, so they never branch on the architecture themselves.
 */
import { DecodeOptions, Span, greedySelect, spanCandidates } from './decoding';
import { OutputKind } from './heads';
import { greedySelectAnyWidth, tokenCandidates } from './token-decoding';

/** The shape of one row of logits: L words, C classes; W widths for span outputs. */
export interface RowDims {
  length: number;
  maxWidth: number;
  numClasses: number;
}

export interface OutputDecoder {
  /** Values per row: L*W*C (span) or L*C*3 (token). */
  rowSize(dims: RowDims): number;
  /** Candidates of one row (words < textLength, classes < validClasses) in upstream's order. */
  candidates(row: Float32Array, dims: RowDims, textLength: number, options: DecodeOptions): Span[];
  /** Orders candidates merged from several windows as one row's enumeration would. */
  compare(a: Span, b: Span, maxWidth: number): number;
  /** Greedy selection of the final spans of a text of `numWords` words. */
  select(candidates: readonly Span[], numWords: number, maxWidth: number, options: Pick<DecodeOptions, 'flatNer' | 'multiLabel'>): Span[];
}

export const DECODERS: Readonly<Record<OutputKind, OutputDecoder>> = {
  span: {
    rowSize: (d) => d.length * d.maxWidth * d.numClasses,
    candidates: (row, d, n, o) => spanCandidates(row, d, n, o),
    // torch.where over [L, W, C]: start, width, class.
    compare: (a, b, W) => a.start * W + (a.end - a.start) - (b.start * W + (b.end - b.start)) || a.classIndex - b.classIndex,
    select: greedySelect,
  },
  token: {
    rowSize: (d) => d.length * d.numClasses * 3,
    candidates: (row, d, n, o) => tokenCandidates(row, d, n, o),
    // start word, then class, then end word.
    compare: (a, b) => a.start - b.start || a.classIndex - b.classIndex || a.end - b.end,
    select: (c, _n, _w, o) => greedySelectAnyWidth(c, o),
  },
};

/**
 * Join entities of the same label that touch (the next starts at the word after the previous
 * ends), as NuNER Zero's users do with its one-word predictions. A joined span keeps the lowest
 * score of its parts. Spans are in word indices; the result is sorted by start.
 */
export function mergeAdjacentSpans(spans: readonly Span[]): Span[] {
  const byClass = new Map<number, Span[]>();
  for (const s of spans) {
    const list = byClass.get(s.classIndex) ?? [];
    list.push(s);
    byClass.set(s.classIndex, list);
  }
  const out: Span[] = [];
  for (const list of byClass.values()) {
    const sorted = [...list].sort((a, b) => a.start - b.start || a.end - b.end);
    let cur: Span = { ...sorted[0] };
    for (const s of sorted.slice(1)) {
      if (s.start === cur.end + 1) cur = { ...cur, end: s.end, score: Math.min(cur.score, s.score) };
      else {
        out.push(cur);
        cur = { ...s };
      }
    }
    out.push(cur);
  }
  return out.sort((a, b) => a.start - b.start || a.end - b.end);
}
