/**
 * The token-level decoder and mergeAdjacent on hand-made logits, including the cases where
 * upstream crashes or is wrong (padding of shorter texts, padded classes), and mergeAdjacent end
 * to end against upstream's unmerged output on the NuNER-Zero-like reference model.
 */
import * as path from 'path';
import { DecodeOptions, Span } from '../src/decoding';
import { DECODERS, mergeAdjacentSpans } from '../src/decoders';
import { greedySelectAnyWidth, tokenCandidates } from '../src/token-decoding';
import { GLiNER } from '../src/gliner';
import { REFERENCE_ROOT, codePointToUtf16, loadReference, parseSettingKey } from './helpers/reference';

const logit = (p: number) => Math.log(p / (1 - p));

/** Row logits [L, C, 3] from probabilities given per (word, class) as [start, end, inside]. */
function row(probs: [number, number, number][][]): Float32Array {
  const L = probs.length;
  const C = probs[0].length;
  const out = new Float32Array(L * C * 3);
  probs.forEach((perClass, w) => perClass.forEach((triple, c) => triple.forEach((p, k) => (out[(w * C + c) * 3 + k] = p === 0.5 ? 0 : logit(p)))));
  return out;
}

function decode(probs: [number, number, number][][], textLength: number, o: Partial<DecodeOptions> = {}): [number, number, number][] {
  const opts: DecodeOptions = { threshold: 0.5, flatNer: true, multiLabel: false, ...o };
  const cands = tokenCandidates(row(probs), { length: probs.length, numClasses: probs[0].length }, textLength, opts);
  return greedySelectAnyWidth(cands, opts).map((s) => [s.start, s.end, s.classIndex]);
}

const LOW: [number, number, number] = [0.1, 0.1, 0.1];

describe('token decoder (hand-made logits)', () => {
  // class 0 over 3 words: starts at 0 (0.9) and 1 (0.8); ends at 0 (0.7) and 2 (0.95); inside high.
  // Candidates: [0,0] min(0.9,0.9,0.7)=0.7, [0,2] min(0.9,0.85,0.9,0.9,0.95)=0.85, [1,2]=0.8.
  const nested: [number, number, number][][] = [[[0.9, 0.7, 0.9]], [[0.8, 0.1, 0.85]], [[0.1, 0.95, 0.9]]];

  test('flat keeps the best span only; nested keeps spans inside it, sorted by start (stable)', () => {
    expect(decode(nested, 3)).toEqual([[0, 2, 0]]);
    expect(decode(nested, 3, { flatNer: false })).toEqual([[0, 2, 0], [0, 0, 0], [1, 2, 0]]);
  });

  test('score = min(inside probs, start prob, end prob)', () => {
    const cands = tokenCandidates(row(nested), { length: 3, numClasses: 1 }, 3, { threshold: 0.5, flatNer: true, multiLabel: false });
    expect(cands.map((c) => [c.start, c.end, Math.round(c.score * 1e4) / 1e4])).toEqual([[0, 0, 0.7], [0, 2, 0.85], [1, 2, 0.8]]);
  });

  test('an inside prob below the threshold breaks a span; one equal to it does not; starts need >', () => {
    const broken: [number, number, number][][] = [[[0.9, 0.1, 0.9]], [[0.1, 0.1, 0.4]], [[0.1, 0.9, 0.9]]];
    expect(decode(broken, 3)).toEqual([]);
    const equal: [number, number, number][][] = [[[0.9, 0.1, 0.9]], [[0.1, 0.1, 0.5]], [[0.1, 0.9, 0.9]]];
    expect(decode(equal, 3)).toEqual([[0, 2, 0]]);
    const startAtThreshold: [number, number, number][][] = [[[0.5, 0.9, 0.9]]];
    expect(decode(startAtThreshold, 1)).toEqual([]);
  });

  test('same span, two classes: the better one unless multi-label', () => {
    const two: [number, number, number][][] = [[[0.9, 0.9, 0.9], [0.8, 0.8, 0.8]]];
    expect(decode(two, 1)).toEqual([[0, 0, 0]]);
    expect(decode(two, 1, { multiLabel: true })).toEqual([[0, 0, 0], [0, 0, 1]]);
  });

  test('padding of a shorter text never yields or outcompetes a span (upstream: IndexError)', () => {
    // Text of 3 words in a row of 5; the padded words 3 and 4 have high probs. Upstream would take
    // [2, 4] (score 0.9) over the real [2, 2] (0.6) and then fail mapping word 4 to characters.
    const probs: [number, number, number][][] = [[LOW], [LOW], [[0.9, 0.6, 0.9]], [[0.1, 0.1, 0.9]], [[0.1, 0.9, 0.9]]];
    expect(decode(probs, 5)).toEqual([[2, 4, 0]]); // what the row holds if all 5 words were real
    expect(decode(probs, 3)).toEqual([[2, 2, 0]]);
  });

  test('padded classes are ignored (upstream: KeyError)', () => {
    const probs: [number, number, number][][] = [[[0.6, 0.6, 0.6], [0.99, 0.99, 0.99]]];
    expect(decode(probs, 1, { validClasses: 1 })).toEqual([[0, 0, 0]]);
    expect(decode(probs, 1, { validClasses: 0 })).toEqual([]);
  });

  test('window merging orders candidates as one row enumerates them (start, class, end)', () => {
    const opts: DecodeOptions = { threshold: 0.5, flatNer: true, multiLabel: false };
    const probs: [number, number, number][][] = [[[0.9, 0.9, 0.9], [0.9, 0.9, 0.9]], [[0.9, 0.9, 0.9], [0.9, 0.9, 0.9]]];
    const cands = tokenCandidates(row(probs), { length: 2, numClasses: 2 }, 2, opts);
    const shuffled = [...cands].reverse().sort((a, b) => DECODERS.token.compare(a, b, 1));
    expect(shuffled).toEqual(cands);
  });

  test('bad input is refused with the argument named', () => {
    expect(() => tokenCandidates(new Float32Array(5), { length: 1, numClasses: 1 }, 1, { threshold: 0.5, flatNer: true, multiLabel: false })).toThrow(/logits has 5 values/);
    expect(() => tokenCandidates(new Float32Array(3), { length: 1, numClasses: 1 }, 1, { threshold: 2, flatNer: true, multiLabel: false })).toThrow(/threshold/);
  });
});

describe('mergeAdjacent', () => {
  const s = (start: number, end: number, classIndex: number, score = 0.9): Span => ({ start, end, classIndex, score });

  test('joins word-adjacent spans of one label, keeps the lowest score, leaves others alone', () => {
    expect(mergeAdjacentSpans([s(0, 0, 0, 0.9), s(1, 1, 0, 0.7), s(2, 2, 1), s(3, 3, 0), s(5, 5, 0), s(6, 7, 0, 0.8)])).toEqual([
      s(0, 1, 0, 0.7), s(2, 2, 1), s(3, 3, 0), s(5, 7, 0, 0.8),
    ]);
    expect(mergeAdjacentSpans([])).toEqual([]);
  });

  test('end to end on the NuNER-Zero-like reference: upstream\'s unmerged output, joined by hand', async () => {
    const dir = path.join(REFERENCE_ROOT, 'tiny_marker_w1');
    const ref = loadReference(dir);
    const model = await GLiNER.fromPretrained(dir, { backend: 'cpu' });
    try {
      let joins = 0;
      for (const c of ref.cases.slice(0, 6)) {
        for (const key of ['thr=0.3|flat_ner=True|multi_label=False', 'thr=0.3|flat_ner=True|multi_label=True']) {
          const expected = c.predictions[key] as { start: number; end: number; label: string }[][];
          const got = await model.batchPredictEntities(c.texts, c.labels, { ...parseSettingKey(key), truncate: true, mergeAdjacent: true });
          got.forEach((entities, t) => {
            const k = c.valid_to_orig_idx.indexOf(t);
            if (k < 0) return expect(entities).toEqual([]);
            const wordAt = new Map(c.words[k].map(([, st], i) => [st, i]));
            const wordEndAt = new Map(c.words[k].map(([, , en], i) => [en, i]));
            // Join upstream's one-word entities by hand: same label, next word.
            const joined: { start: number; end: number; label: string }[] = [];
            for (const label of [...new Set(expected[t].map((e) => e.label))]) {
              for (const e of expected[t].filter((x) => x.label === label)) {
                const last = joined.filter((j) => j.label === label).pop();
                if (last && wordAt.get(e.start) === wordEndAt.get(last.end)! + 1) {
                  last.end = e.end;
                  joins++;
                } else joined.push({ ...e });
              }
            }
            joined.sort((a, b) => a.start - b.start || a.end - b.end);
            const text = c.texts[t];
            expect(entities.map((e) => [e.start, e.end, e.label])).toEqual(joined.map((e) => [codePointToUtf16(text, e.start), codePointToUtf16(text, e.end), e.label]));
            entities.forEach((e) => expect(e.text).toBe(text.slice(e.start, e.end)));
          });
        }
      }
      expect(joins).toBeGreaterThan(0); // the fixture does exercise joining
      await expect(model.predictEntities('a b', ['x'], { mergeAdjacent: 'yes' as unknown as boolean })).rejects.toThrow(/mergeAdjacent must be a boolean/);
    } finally {
      model.dispose();
    }
  });
});
