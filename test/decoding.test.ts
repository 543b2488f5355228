import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import { DecodeOptions, Span, decodeSpans, sigmoid32, spansToEntities, validateDecodeOptions } from '../src/decoding';
import { readSafetensors } from '../src/io/safetensors';
import { SPAN_MODES, SpanMode } from '../src/architecture';
import { splitWords } from '../src/processing/word-splitter';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'reference');

interface FixtureEntity {
  start: number;
  end: number;
  text: string;
  label: string;
  score: number;
}

interface FixtureCase {
  name: string;
  texts: string[];
  valid_to_orig_idx: number[];
  tensor_prefix: string;
  id_to_classes: Record<string, string> | Record<string, string>[];
  logits_shape: [number, number, number, number];
  predictions: Record<string, FixtureEntity[][]>;
}

/** Map Python code-point offsets of `text` to UTF-16 offsets (index = code-point offset). */
function codePointToUtf16(text: string): number[] {
  const map = [0];
  let u = 0;
  for (const ch of text) {
    u += ch.length;
    map.push(u);
  }
  return map;
}

/** Parse a fixture settings key such as `thr=0.3|flat_ner=True|multi_label=False`. */
function parseSetting(key: string): DecodeOptions {
  const m = /^thr=([0-9.]+)\|flat_ner=(True|False)\|multi_label=(True|False)$/.exec(key);
  if (!m) throw new Error(`unexpected prediction key ${key}`);
  return { threshold: Number(m[1]), flatNer: m[2] === 'True', multiLabel: m[3] === 'True' };
}

/** Build [L, W, C] logits where every span/class is very unlikely except those given. */
function table(L: number, W: number, C: number, entries: [start: number, end: number, cls: number, logit: number][]) {
  const logits = new Float32Array(L * W * C).fill(-20);
  for (const [s, e, c, x] of entries) logits[(s * W + (e - s)) * C + c] = x;
  return { logits, dims: { length: L, maxWidth: W, numClasses: C } };
}

const logit = (p: number) => Math.log(p / (1 - p));
const compact = (spans: Span[]) => spans.map((s) => [s.start, s.end, s.classIndex]);

describe('decodeSpans + spansToEntities reproduce the reference predictions', () => {
  // Span-layout folders (the config's span_mode says); token-level folders are decoded in
  // test/parity.test.ts against their decoded_word_spans.
  const folders = fs.readdirSync(FIXTURES).filter((f) => {
    if (!fs.existsSync(path.join(FIXTURES, f, 'expected_inference.json'))) return false;
    const mode = JSON.parse(fs.readFileSync(path.join(FIXTURES, f, 'gliner_config.json'), 'utf8')).span_mode ?? 'markerV0';
    return SPAN_MODES[mode as SpanMode].output === 'span';
  });

  it('finds fixture folders', () => {
    expect(folders.length).toBeGreaterThanOrEqual(2);
  });

  for (const folder of folders) {
    const dir = path.join(FIXTURES, folder);
    const { cases } = JSON.parse(fs.readFileSync(path.join(dir, 'expected_inference.json'), 'utf8')) as { cases: FixtureCase[] };
    const { tensors } = readSafetensors(fs.readFileSync(path.join(dir, 'expected_tensors.safetensors')), folder);

    describe(folder, () => {
      cases.forEach((c, ci) => {
        it(`case ${ci} (${c.name}): all decoding settings`, () => {
          const logitsT = tensors.get(`${c.tensor_prefix}.logits`);
          const lengthsT = tensors.get(`${c.tensor_prefix}.text_lengths`);
          if (!logitsT || !lengthsT) throw new Error(`missing tensors for ${c.tensor_prefix}`);
          expect(logitsT.shape).toEqual(c.logits_shape);
          const [B, L, W, C] = logitsT.shape;
          const rowSize = L * W * C;
          const settings = Object.keys(c.predictions);
          expect(settings.length).toBe(8);

          for (const key of settings) {
            const options = parseSetting(key);
            const expectedPerText = c.predictions[key];
            expect(expectedPerText.length).toBe(c.texts.length);
            c.texts.forEach((text, orig) => {
              const b = c.valid_to_orig_idx.indexOf(orig);
              const expected = expectedPerText[orig];
              if (b < 0) {
                // Dropped (empty / blank) text: no words, no entities.
                expect(splitWords(text)).toEqual([]);
                expect(expected).toEqual([]);
                return;
              }
              expect(b).toBeLessThan(B);
              const id2c = Array.isArray(c.id_to_classes) ? c.id_to_classes[b] : c.id_to_classes;
              const classNames = Object.keys(id2c).map((_, i) => id2c[String(i + 1)]);
              const row = (logitsT.data as Float32Array).subarray(b * rowSize, (b + 1) * rowSize);
              const spans = decodeSpans(row, { length: L, maxWidth: W, numClasses: C }, lengthsT.data[b], {
                ...options,
                validClasses: classNames.length,
              });
              const got = spansToEntities(spans, splitWords(text), text, classNames);

              const map = codePointToUtf16(text);
              const where = `${key} text ${orig}`;
              expect([where, got.map((e) => [e.start, e.end, e.text, e.label])]).toEqual([
                where,
                expected.map((e) => [map[e.start], map[e.end], e.text, e.label]),
              ]);
              got.forEach((e, i) => expect(Math.abs(e.score - expected[i].score)).toBeLessThanOrEqual(1e-4));
              // Bit-exact where torch ran its SIMD loop: whole 16/32-element blocks of the batch tensor
              // (the remainder goes through libm's expf), single-threaded below 32768 elements.
              const total = logitsT.data.length;
              spans.forEach((span, i) => {
                const flat = b * rowSize + (span.start * W + (span.end - span.start)) * C + span.classIndex;
                if (total < 32768 && flat < total - (total % 32)) expect([where, i, span.score]).toEqual([where, i, expected[i].score]);
              });
            });
          }
        });
      });
    });
  }
});

describe('decodeSpans rules (hand-made score tables)', () => {
  const opts = (threshold: number, flatNer: boolean, multiLabel: boolean): DecodeOptions => ({ threshold, flatNer, multiLabel });

  it('keeps only probabilities strictly above the threshold', () => {
    const { logits, dims } = table(2, 1, 1, [[0, 0, 0, 0]]); // sigmoid(0) = 0.5 exactly
    expect(decodeSpans(logits, dims, 2, opts(0.5, true, false))).toEqual([]);
    expect(compact(decodeSpans(logits, dims, 2, opts(0.4999, true, false)))).toEqual([[0, 0, 0]]);
  });

  it('compares in float32, like torch comparing a float32 tensor with a Python float', () => {
    // Scan float32 logits next to logit(0.3) for one whose float32 sigmoid is exactly fround(0.3)
    // (which is > 0.3 in float64) and for the smallest one whose sigmoid lies just above it.
    const target = Math.fround(0.3);
    const bits = new Int32Array(new Float32Array([logit(0.3)]).buffer);
    const near: number[] = [];
    for (let step = -64; step <= 64; step++) near.push(new Float32Array(new Int32Array([bits[0] + step]).buffer)[0]);
    const atThreshold = near.find((x) => sigmoid32(x) === target);
    const above = near.filter((x) => sigmoid32(x) > target).sort((a, b) => a - b)[0];
    if (atThreshold === undefined || above === undefined) throw new Error('no float32 logit found next to logit(0.3)');
    expect(sigmoid32(above)).toBe(Math.fround(target + 2 ** -25)); // the next float32 after fround(0.3)
    const dims = { length: 1, maxWidth: 1, numClasses: 1 };
    expect(decodeSpans(Float32Array.of(atThreshold), dims, 1, opts(0.3, true, false))).toEqual([]);
    expect(decodeSpans(Float32Array.of(above), dims, 1, opts(0.3, true, false))).toHaveLength(1);
  });

  it('selection near the threshold depends only on the float32 sigmoid (no shortcut errors)', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: -40, max: 40 }), (threshold, step) => {
        // float32 logits a few ulps around logit(threshold)
        const bits = new Int32Array(new Float32Array([logit(Math.min(Math.max(threshold, 1e-30), 1 - 1e-7))]).buffer);
        bits[0] += step;
        const x = new Float32Array(bits.buffer)[0];
        const kept = decodeSpans(Float32Array.of(x), { length: 1, maxWidth: 1, numClasses: 1 }, 1, opts(threshold, true, false));
        expect(kept.length).toBe(sigmoid32(x) > Math.fround(threshold) ? 1 : 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('scores are float32 sigmoids rounded step by step like torch', () => {
    const { logits, dims } = table(1, 1, 1, [[0, 0, 0, 1.5]]);
    const [span] = decodeSpans(logits, dims, 1, opts(0.5, true, false));
    expect(span.score).toBe(Math.fround(span.score));
    expect(Math.abs(span.score - 1 / (1 + Math.exp(-1.5)))).toBeLessThan(1e-7);
    expect(sigmoid32(0)).toBe(0.5);
    // Taken from the fixtures: the correctly rounded value would be 0.9999985098838806.
    expect(sigmoid32(Math.fround(13.415061950683594))).toBe(0.9999984502792358);
    expect(sigmoid32(17)).toBe(1);
    expect(sigmoid32(-90)).toBe(0); // exp overflows float32
    expect(sigmoid32(Infinity)).toBe(1);
    expect(sigmoid32(-Infinity)).toBe(0);
  });

  // A = [0,2] .9 ; B = [1,1] .8 nested in A ; C = [2,3] .7 partially overlapping A ; D = [4,4] .6
  const nestTable = () =>
    table(5, 4, 1, [
      [0, 2, 0, logit(0.9)],
      [1, 1, 0, logit(0.8)],
      [2, 3, 0, logit(0.7)],
      [4, 4, 0, logit(0.6)],
    ]);

  it('flat NER rejects any overlap with a kept span', () => {
    const { logits, dims } = nestTable();
    expect(compact(decodeSpans(logits, dims, 5, opts(0.5, true, false)))).toEqual([[0, 2, 0], [4, 4, 0]]);
  });

  it('nested NER keeps nested spans and rejects partial overlaps', () => {
    const { logits, dims } = nestTable();
    expect(compact(decodeSpans(logits, dims, 5, opts(0.5, false, false)))).toEqual([[0, 2, 0], [1, 1, 0], [4, 4, 0]]);
  });

  it('checks only against kept spans (a rejected span blocks nothing)', () => {
    const { logits, dims } = table(4, 2, 1, [
      [0, 1, 0, logit(0.9)],
      [1, 2, 0, logit(0.8)], // overlaps [0,1]: rejected
      [2, 3, 0, logit(0.7)], // overlaps only the rejected [1,2]: kept
    ]);
    expect(compact(decodeSpans(logits, dims, 4, opts(0.5, true, false)))).toEqual([[0, 1, 0], [2, 3, 0]]);
  });

  it('multiLabel=false keeps the best class of a span; multiLabel=true keeps every class', () => {
    const { logits, dims } = table(3, 2, 3, [
      [0, 1, 0, logit(0.6)],
      [0, 1, 1, logit(0.9)],
      [0, 1, 2, logit(0.7)],
      [1, 2, 0, logit(0.8)], // partially overlaps [0,1]
      [1, 1, 2, logit(0.65)], // nested in [0,1]
    ]);
    for (const flat of [true, false]) {
      expect(compact(decodeSpans(logits, dims, 3, opts(0.5, flat, false)))).toEqual(
        flat ? [[0, 1, 1]] : [[0, 1, 1], [1, 1, 2]],
      );
    }
    // Same span, other labels allowed; the partial overlap is still rejected, in both modes.
    expect(compact(decodeSpans(logits, dims, 3, opts(0.5, true, true)))).toEqual([[0, 1, 1], [0, 1, 2], [0, 1, 0]]);
    expect(compact(decodeSpans(logits, dims, 3, opts(0.5, false, true)))).toEqual([
      [0, 1, 1], [0, 1, 2], [0, 1, 0], [1, 1, 2],
    ]);
  });

  it('breaks score ties by candidate order (start, then width, then class)', () => {
    const x = logit(0.8);
    // Overlapping spans with equal scores: the earlier start wins.
    let t = table(3, 2, 1, [[1, 2, 0, x], [0, 1, 0, x]]);
    expect(compact(decodeSpans(t.logits, t.dims, 3, opts(0.5, true, false)))).toEqual([[0, 1, 0]]);
    // Same start: the narrower span comes first in candidate order.
    t = table(3, 2, 1, [[0, 1, 0, x], [0, 0, 0, x]]);
    expect(compact(decodeSpans(t.logits, t.dims, 3, opts(0.5, true, false)))).toEqual([[0, 0, 0]]);
    // Same span: the lower class index wins when multi-label is off.
    t = table(2, 1, 3, [[0, 0, 2, x], [0, 0, 1, x]]);
    expect(compact(decodeSpans(t.logits, t.dims, 2, opts(0.5, true, false)))).toEqual([[0, 0, 1]]);
  });

  it('final order is by start only; equal starts keep greedy (score) order', () => {
    let t = table(3, 3, 1, [[0, 2, 0, logit(0.7)], [0, 0, 0, logit(0.9)]]);
    expect(compact(decodeSpans(t.logits, t.dims, 3, opts(0.5, false, false)))).toEqual([[0, 0, 0], [0, 2, 0]]);
    t = table(3, 3, 1, [[0, 2, 0, logit(0.9)], [0, 0, 0, logit(0.7)], [2, 2, 0, logit(0.95)]]);
    expect(compact(decodeSpans(t.logits, t.dims, 3, opts(0.5, false, false)))).toEqual([[0, 2, 0], [0, 0, 0], [2, 2, 0]]);
  });

  it('ignores spans that end at or past the text length (padding words)', () => {
    const { logits, dims } = table(5, 3, 1, [
      [1, 2, 0, logit(0.8)],
      [2, 3, 0, logit(0.99)], // ends on word 3, padding
      [3, 3, 0, logit(0.99)], // starts in padding
      [4, 4, 0, logit(0.99)],
    ]);
    expect(compact(decodeSpans(logits, dims, 3, opts(0.5, true, false)))).toEqual([[1, 2, 0]]);
    expect(decodeSpans(logits, dims, 0, opts(0.5, true, false))).toEqual([]);
  });

  it('validClasses drops padded classes', () => {
    const { logits, dims } = table(1, 1, 3, [[0, 0, 2, logit(0.99)], [0, 0, 0, logit(0.6)]]);
    expect(compact(decodeSpans(logits, dims, 1, { ...opts(0.5, true, false), validClasses: 2 }))).toEqual([[0, 0, 0]]);
  });

  it('handles empty rows and NaN logits', () => {
    expect(decodeSpans(new Float32Array(0), { length: 0, maxWidth: 4, numClasses: 3 }, 0, opts(0.5, true, false))).toEqual([]);
    const { logits, dims } = table(1, 1, 1, [[0, 0, 0, NaN]]);
    expect(decodeSpans(logits, dims, 1, opts(0, true, false))).toEqual([]);
  });

  it('validates options and shapes with clear messages', () => {
    const { logits, dims } = table(2, 2, 2, []);
    const bad = (o: unknown) => () => decodeSpans(logits, dims, 2, o as DecodeOptions);
    for (const threshold of [NaN, Infinity, -0.01, 1.01, '0.5', undefined]) {
      expect(bad({ threshold, flatNer: true, multiLabel: false })).toThrow(/threshold must be a finite number in \[0, 1\]/);
    }
    expect(bad({ threshold: 0.5, flatNer: 'yes', multiLabel: false })).toThrow(/flatNer must be a boolean/);
    expect(bad({ threshold: 0.5, flatNer: true })).toThrow(/multiLabel must be a boolean/);
    expect(bad({ threshold: 0.5, flatNer: true, multiLabel: false, validClasses: 3 })).toThrow(/validClasses/);
    expect(bad(null)).toThrow(/options must be an object/);
    expect(() => decodeSpans(logits, { ...dims, length: 3 }, 2, opts(0.5, true, false))).toThrow(/logits has 8 values/);
    expect(() => decodeSpans(logits, { ...dims, maxWidth: 0 }, 2, opts(0.5, true, false))).toThrow(/dims.maxWidth/);
    expect(() => decodeSpans(logits, dims, -1, opts(0.5, true, false))).toThrow(/textLength/);
    expect(() => validateDecodeOptions(opts(0, false, true))).not.toThrow();
    expect(() => validateDecodeOptions(opts(1, false, true))).not.toThrow();
  });
});

describe('spansToEntities', () => {
  it('maps word spans to UTF-16 character offsets and labels', () => {
    const text = '😀 Zoë Ünal met 𝔘𝔫𝔦 in Oslo.';
    const words = splitWords(text);
    const spans: Span[] = [
      { start: 1, end: 2, classIndex: 0, score: 0.9 },
      { start: 4, end: 4, classIndex: 1, score: 0.8 },
      { start: 6, end: 6, classIndex: 2, score: 0.7 },
    ];
    expect(spansToEntities(spans, words, text, ['person', 'thing', 'city'])).toEqual([
      { start: 3, end: 11, text: 'Zoë Ünal', label: 'person', score: 0.9 },
      { start: 16, end: 22, text: '𝔘𝔫𝔦', label: 'thing', score: 0.8 },
      { start: 26, end: 30, text: 'Oslo', label: 'city', score: 0.7 },
    ]);
  });

  it('rejects spans outside the words or classes', () => {
    const words = splitWords('a b');
    expect(() => spansToEntities([{ start: 1, end: 2, classIndex: 0, score: 1 }], words, 'a b', ['x'])).toThrow(/outside the 2 words/);
    expect(() => spansToEntities([{ start: 0, end: 0, classIndex: 1, score: 1 }], words, 'a b', ['x'])).toThrow(/class index 1/);
  });
});

/**
 * Direct transcription of upstream's algorithm (all-pairs overlap checks against the kept list),
 * used as an oracle for the grid-based implementation.
 */
function referenceDecode(logits: Float32Array, L: number, W: number, C: number, textLength: number, o: DecodeOptions): Span[] {
  const cands: Span[] = [];
  for (let s = 0; s < L; s++)
    for (let k = 0; k < W; k++)
      for (let c = 0; c < C; c++) {
        const p = sigmoid32(logits[(s * W + k) * C + c]);
        if (p > Math.fround(o.threshold) && s + k + 1 <= textLength) cands.push({ start: s, end: s + k, classIndex: c, score: p });
      }
  const sorted = [...cands].sort((a, b) => b.score - a.score);
  const overlap = (x: Span, y: Span): boolean => {
    if (x.start === y.start && x.end === y.end) return !o.multiLabel;
    const disjoint = x.start > y.end || y.start > x.end;
    if (o.flatNer) return !disjoint;
    const nested = (x.start <= y.start && x.end >= y.end) || (y.start <= x.start && y.end >= x.end);
    return !(disjoint || nested);
  };
  const kept: Span[] = [];
  for (const span of sorted) if (!kept.some((k) => overlap(span, k))) kept.push(span);
  return kept.sort((a, b) => a.start - b.start);
}

describe('decodeSpans properties', () => {
  // Few distinct logit values so that score ties are common.
  const problem = fc
    .record({ L: fc.integer({ min: 0, max: 10 }), W: fc.integer({ min: 1, max: 5 }), C: fc.integer({ min: 1, max: 4 }) })
    .chain(({ L, W, C }) =>
      fc.record({
        L: fc.constant(L),
        W: fc.constant(W),
        C: fc.constant(C),
        textLength: fc.integer({ min: 0, max: L }),
        values: fc.array(fc.constantFrom(-3, -1, -0.5, 0, 0.25, 0.5, 1, 2, 4), { minLength: L * W * C, maxLength: L * W * C }),
        threshold: fc.constantFrom(0, 0.3, 0.5, 0.62, 0.9),
        flatNer: fc.boolean(),
        multiLabel: fc.boolean(),
      }),
    );

  it('matches the all-pairs reference and keeps its invariants', () => {
    fc.assert(
      fc.property(problem, ({ L, W, C, textLength, values, threshold, flatNer, multiLabel }) => {
        const logits = Float32Array.from(values);
        const options = { threshold, flatNer, multiLabel };
        const spans = decodeSpans(logits, { length: L, maxWidth: W, numClasses: C }, textLength, options);
        expect(spans).toEqual(referenceDecode(logits, L, W, C, textLength, options));

        // Invariants, checked with plain conditions (jest's expect is slow inside 1000 runs).
        const fail = (what: string) => {
          throw new Error(`${what}: ${JSON.stringify(spans)}`);
        };
        for (let i = 0; i < spans.length; i++) {
          const a = spans[i];
          if (a.end >= textLength || a.end - a.start >= W || a.end < a.start) fail('span outside the text or too wide');
          if (!(a.score > Math.fround(threshold))) fail('score not above the threshold');
          if (i > 0 && spans[i - 1].start > a.start) fail('not sorted by start');
          for (let j = i + 1; j < spans.length; j++) {
            const b = spans[j];
            const same = a.start === b.start && a.end === b.end;
            const disjoint = a.end < b.start || b.end < a.start;
            const nested = (a.start <= b.start && a.end >= b.end) || (b.start <= a.start && b.end >= a.end);
            if (same) {
              if (!multiLabel || a.classIndex === b.classIndex) fail('same span kept twice');
            } else if (flatNer ? !disjoint : !(disjoint || nested)) {
              fail(flatNer ? 'overlap in flat mode' : 'partial overlap in nested mode');
            }
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
