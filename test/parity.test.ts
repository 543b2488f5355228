/**
 * End-to-end parity with upstream Python GLiNER on every reference model and case:
 * token ids exact, encoder hidden states within 1e-4 (real tokens), logits within 1e-3,
 * entities identical (span, label, order) with scores within 1e-4, for all 8 decoding settings;
 * on every backend this machine has (test/helpers/backends.ts).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { GLiNER } from '../src/gliner';
import { initBackend } from '../src/backend';
import { buildBatch } from '../src/processing/batch';
import { modelInputFromCollated } from '../src/processing/model-input';
import { splitWords } from '../src/processing/word-splitter';
import { DECODERS } from '../src/decoders';
import { codePointToUtf16, loadReference, parseSettingKey, recordMeasurement, referenceModelDirs } from './helpers/reference';
import { machineBackends } from './helpers/backends';

const HIDDEN_ATOL = 1e-4;
const LOGITS_ATOL = 1e-3;
const SCORE_ATOL = 1e-4;

/** Reference scores closer than this are float noise apart (README: float32 ties across backends). */
const NEAR_TIE = 1e-5;

/**
 * Our entities in the reference order, allowing only one kind of difference: two neighbours with
 * the same start whose reference scores are a near-tie (the greedy order of such a pair depends on
 * the last float bits). Everything else must match exactly; the swaps are counted and reported.
 */
function alignNearTies<T extends { start: number; end: number; label: string }>(got: T[], want: T[], wantScores: number[]): { entities: T[]; indices: number[]; swaps: number } {
  const indices = got.map((_, i) => i);
  let swaps = 0;
  const same = (a: T, b: T) => a.start === b.start && a.end === b.end && a.label === b.label;
  for (let i = 0; i + 1 < got.length && i + 1 < want.length; i++) {
    const a = got[indices[i]];
    const b = got[indices[i + 1]];
    if (!same(a, want[i]) && same(a, want[i + 1]) && same(b, want[i]) && a.start === b.start && Math.abs(wantScores[i] - wantScores[i + 1]) < NEAR_TIE) {
      [indices[i], indices[i + 1]] = [indices[i + 1], indices[i]];
      swaps++;
      i++;
    }
  }
  return { entities: indices.map((k) => got[k]), indices, swaps };
}

function isUpstreamError(v: unknown): v is { error: string; why?: string } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'error' in v;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, include?: (i: number) => boolean): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) if (!include || include(i)) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const backend of machineBackends())
for (const dir of referenceModelDirs()) {
  const ref = loadReference(dir);

  describe(`parity with upstream GLiNER on ${backend}: ${ref.name}`, () => {
    let model: GLiNER;
    const warnings: string[] = [];

    beforeAll(async () => {
      await initBackend(backend, { force: true });
      model = await GLiNER.fromPretrained(dir, { backend, onWarning: (m) => warnings.push(m) });
    });
    afterAll(() => model.dispose());

    for (const c of ref.cases) {
      describe(`case '${c.name}'`, () => {
        const kept = c.valid_to_orig_idx.map((i) => c.texts[i]);
        const labelsOf = (orig: number): string[] =>
          Array.isArray(c.labels[0]) ? (c.labels as string[][])[orig] : (c.labels as string[]);

        test('words, offsets and the collated batch match exactly', () => {
          kept.forEach((text, b) => {
            const words = splitWords(text);
            const expected = c.words[b].map(([w, s, e]) => ({ text: w, start: codePointToUtf16(text, s), end: codePointToUtf16(text, e) }));
            expect(words).toEqual(expected);
          });
          const rows = c.tokens_as_model_sees.map((words, b) => ({ words, labels: [...new Set(labelsOf(c.valid_to_orig_idx[b]))] }));
          const batch = buildBatch(rows, model.tokenizer, { entToken: model.config.entToken, sepToken: model.config.sepToken });
          expect(Array.from(batch.inputIds)).toEqual(c.input_ids.flat());
          expect(Array.from(batch.attentionMask)).toEqual(c.attention_mask.flat());
          expect(Array.from(batch.wordsMask)).toEqual(c.words_mask.flat());
          expect(batch.textLengths).toEqual(c.text_lengths);
        });

        test(`encoder hidden states within ${HIDDEN_ATOL} and logits within ${LOGITS_ATOL}`, () => {
          const p = c.tensor_prefix;
          const ids = ref.tensors.get(`${p}.input_ids`)!;
          const mask = ref.tensors.get(`${p}.attention_mask`)!.data as Int32Array;
          const [B, T] = ids.shape;
          const input = modelInputFromCollated(
            {
              batchSize: B,
              seqLength: T,
              inputIds: ids.data as Int32Array,
              attentionMask: mask,
              wordsMask: ref.tensors.get(`${p}.words_mask`)!.data as Int32Array,
              textLengths: Array.from(ref.tensors.get(`${p}.text_lengths`)!.data),
            },
            model.config.classTokenIndex,
            model.config.embedEntToken,
          );
          const hidden = model.model.encode(input);
          const expectedHidden = ref.tensors.get(`${p}.encoder_last_hidden_state`)!;
          expect(hidden.shape).toEqual(expectedHidden.shape);
          const width = hidden.shape[2];
          const hd = maxAbsDiff(hidden.dataSync(), expectedHidden.data, (i) => mask[Math.floor(i / width)] === 1);
          hidden.dispose();
          recordMeasurement(ref.name, backend, 'hidden_max_abs', hd);
          expect(hd).toBeLessThan(HIDDEN_ATOL);

          const { logits } = model.model.forward(input);
          const expectedLogits = ref.tensors.get(`${p}.logits`)!;
          expect(logits.shape).toEqual(expectedLogits.shape);
          expect(logits.shape).toEqual(c.logits_shape);
          const ld = maxAbsDiff(logits.dataSync(), expectedLogits.data);
          logits.dispose();
          recordMeasurement(ref.name, backend, 'logits_max_abs', ld);
          expect(ld).toBeLessThan(LOGITS_ATOL);
        });

        // Token-level folders record the decoder's own output: decode the reference logits and compare.
        const decoded = c.decoded_word_spans;
        if (decoded) {
          test('the token decoder on the reference logits gives upstream decoded_word_spans', () => {
            const logits = ref.tensors.get(`${c.tensor_prefix}.logits`)!;
            const [B, L, C] = logits.shape;
            for (const key of Object.keys(decoded)) {
              if (isUpstreamError(c.predictions[key])) continue; // upstream's own spans run into the padding there
              const settings = parseSettingKey(key);
              for (let b = 0; b < B; b++) {
                const orig = c.valid_to_orig_idx[b];
                const classes = [...new Set(labelsOf(orig))];
                const row = (logits.data as Float32Array).subarray(b * L * C * 3, (b + 1) * L * C * 3);
                const opts = { ...settings, validClasses: classes.length };
                const spans = DECODERS.token.select(DECODERS.token.candidates(row, { length: L, maxWidth: 1, numClasses: C }, c.text_lengths[b], opts), L, 1, opts);
                const want = decoded[key][b];
                expect(spans.map((sp) => [sp.start, sp.end, classes[sp.classIndex]])).toEqual(want.map(([st, en, label]) => [st, en, label]));
                spans.forEach((sp, k) => expect(Math.abs(sp.score - want[k][3])).toBeLessThan(SCORE_ATOL));
              }
            }
          });
        }

        for (const key of Object.keys(c.predictions)) {
          const recorded = c.predictions[key];
          if (isUpstreamError(recorded)) {
            // Upstream crashes here (README: padded positions / classes pass the threshold). The right
            // answer: padding changes nothing, so each text of the batch decodes as it does alone.
            test(`entities for ${key}: upstream fails (${recorded.error}); each text as when run alone`, async () => {
              const settings = { ...parseSettingKey(key), truncate: true };
              const got = await model.batchPredictEntities(c.texts, c.labels, settings);
              for (let t = 0; t < c.texts.length; t++) {
                const [alone] = await model.batchPredictEntities([c.texts[t]], [labelsOf(t)], settings);
                const strip = (es: { start: number; end: number; label: string }[]) => es.map(({ start, end, label }) => ({ start, end, label }));
                expect(strip(got[t])).toEqual(strip(alone));
                got[t].forEach((e, k) => expect(Math.abs(e.score - alone[k].score)).toBeLessThan(SCORE_ATOL));
              }
            });
            continue;
          }
          test(`entities for ${key}`, async () => {
            // truncate: cut long texts at max_len words as upstream does (we window them by default).
            const settings = { ...parseSettingKey(key), truncate: true };
            const got = await model.batchPredictEntities(c.texts, c.labels, settings);
            const expected = recorded;
            expect(got.length).toBe(expected.length);
            got.forEach((entities, t) => {
              const text = c.texts[t];
              const exp = expected[t].map((e) => ({
                start: codePointToUtf16(text, e.start),
                end: codePointToUtf16(text, e.end),
                text: e.text,
                label: e.label,
              }));
              const order = alignNearTies(entities.map(({ start, end, text: et, label }) => ({ start, end, text: et, label })), exp, expected[t].map((e) => e.score));
              recordMeasurement(ref.name, backend, 'near_tie_swaps', order.swaps);
              expect(order.entities).toEqual(exp);
              order.indices.forEach((k, i) => {
                const e = entities[k];
                recordMeasurement(ref.name, backend, 'score_max_abs', Math.abs(e.score - expected[t][i].score));
                expect(Math.abs(e.score - expected[t][i].score)).toBeLessThan(SCORE_ATOL);
                expect(text.slice(e.start, e.end)).toBe(e.text);
              });
            });
          });
        }
      });
    }

    test('the truncation warning names max_len, only when truncation was asked for and happened', async () => {
      const long = ref.cases.some((c) => c.texts.some((t) => splitWords(t).length > model.config.maxLen));
      if (long) expect(warnings.some((w) => w.includes(`max_len=${model.config.maxLen}`))).toBe(true);
      else expect(warnings.filter((w) => w.includes('max_len'))).toEqual([]);
      warnings.length = 0;
      const c = ref.cases[0];
      await model.batchPredictEntities(ref.cases.flatMap((x) => x.texts), c.labels as string[]);
      expect(warnings).toEqual([]);
    });

    test('no tensors are left behind by predictEntities and batchPredictEntities', async () => {
      const c = ref.cases[0];
      const labels = Array.isArray(c.labels[0]) ? (c.labels as string[][])[0] : (c.labels as string[]);
      await model.predictEntities(c.texts[0], labels); // warm-up: backends may cache on first use
      const before = tf.memory().numTensors;
      await model.predictEntities(c.texts[0], labels, { threshold: 0.3 });
      expect(tf.memory().numTensors).toBe(before);
      const all = ref.cases.flatMap((x) => x.texts);
      await model.batchPredictEntities(all, labels, { batchSize: 3, flatNer: false, multiLabel: true });
      expect(tf.memory().numTensors).toBe(before);
    });

    test('pytorch_model.bin loads to the same predictions as model.safetensors', async () => {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-bin-'));
      try {
        for (const f of fs.readdirSync(dir)) {
          if (f !== 'model.safetensors' && !f.startsWith('expected_')) fs.copyFileSync(path.join(dir, f), path.join(tmp, f));
        }
        const fromBin = await GLiNER.fromPretrained(tmp, { backend });
        try {
          const fromSt = model.model.exportWeights();
          const fromPt = fromBin.model.exportWeights();
          expect([...fromPt.keys()].sort()).toEqual([...fromSt.keys()].sort());
          for (const [k, t] of fromSt) expect(Buffer.from(fromPt.get(k)!.data.buffer).equals(Buffer.from(t.data.buffer))).toBe(true);
          const c = ref.cases[0];
          const texts = c.texts;
          expect(await fromBin.batchPredictEntities(texts, c.labels, { threshold: 0.3 })).toEqual(
            await model.batchPredictEntities(texts, c.labels, { threshold: 0.3 }),
          );
        } finally {
          fromBin.dispose();
        }
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    });
  });
}
