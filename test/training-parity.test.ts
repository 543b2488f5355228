/**
 * Training parity with upstream GLiNER (train mode, dropout 0) on every reference model:
 * loss within 1e-4 relative, listed gradients within rtol 1e-3 / atol 1e-5*max|g|, global
 * gradient norm within 1e-3 relative, for BCE and focal loss with sum and mean reduction; on every
 * backend this machine has (test/helpers/backends.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { GLiNER } from '../src/gliner';
import { initBackend } from '../src/backend';
import { machineBackends } from './helpers/backends';
import { normalizeGlinerRecord, prepareSpanBatch } from '../src/training/data';
import { tokenLevelTargets } from '../src/training/data/batching';
import { loadReference, recordMeasurement, referenceModelDirs } from './helpers/reference';

interface ExpectedTraining {
  labels: string[];
  examples: { tokenized_text: string[]; ner: [number, number, string][] }[];
  grad_params: string[];
  losses: Record<string, { loss: number; grad_global_l2_norm: number; alpha: number; gamma: number; reduction: 'sum' | 'mean' }>;
}

for (const backend of machineBackends())
for (const dir of referenceModelDirs()) {
  const ref = loadReference(dir);
  const expected: ExpectedTraining = JSON.parse(fs.readFileSync(path.join(dir, 'expected_training.json'), 'utf8'));

  describe(`training parity with upstream GLiNER on ${backend}: ${ref.name}`, () => {
    let model: GLiNER;
    beforeAll(async () => {
      await initBackend(backend, { force: true });
      model = await GLiNER.fromPretrained(dir, { backend });
    });
    afterAll(() => model.dispose());

    test('the collated training batch equals upstream (labels; span_idx and span_mask for span models)', () => {
      const examples = expected.examples.map((e) => normalizeGlinerRecord(e));
      const batch = prepareSpanBatch(examples, examples.map(() => expected.labels), { maxLen: model.config.maxLen, maxWidth: model.config.maxWidth });
      const want = ref.tensors.get('train.labels')!;
      // The folder says which layout it holds: span models store span_idx, token models [B, L, C, 3] labels.
      if (!ref.tensors.has('train.span_idx')) {
        expect(model.model.output).toBe('token');
        expect(want.shape).toEqual([batch.batchSize, batch.maxWords, batch.numClasses, 3]);
        expect(Array.from(tokenLevelTargets(batch).labels)).toEqual(Array.from(want.data));
        return;
      }
      expect(model.model.output).toBe('span');
      expect(Array.from(batch.labels)).toEqual(Array.from(want.data));
      expect(Array.from(batch.spanIdx)).toEqual(Array.from(ref.tensors.get('train.span_idx')!.data));
      expect(Array.from(batch.spanMask)).toEqual(Array.from(ref.tensors.get('train.span_mask')!.data));
    });

    for (const [tag, exp] of Object.entries(expected.losses)) {
      test(`${tag}: loss, gradients and global gradient norm`, () => {
        const before = tf.memory().numTensors;
        const r = model.lossAndGradients(expected.examples, {
          classes: expected.labels,
          lossAlpha: exp.alpha,
          lossGamma: exp.gamma,
          reduction: exp.reduction,
          labelSmoothing: 0,
          training: true,
        });
        expect(tf.memory().numTensors).toBe(before);
        recordMeasurement(ref.name, backend, 'loss_rel', Math.abs(r.loss - exp.loss) / Math.abs(exp.loss));
        recordMeasurement(ref.name, backend, 'grad_norm_rel', Math.abs(r.gradNorm - exp.grad_global_l2_norm) / exp.grad_global_l2_norm);
        expect(Math.abs(r.loss - exp.loss) / Math.abs(exp.loss)).toBeLessThan(1e-4);
        expect(Math.abs(r.gradNorm - exp.grad_global_l2_norm) / exp.grad_global_l2_norm).toBeLessThan(1e-3);
        // Every parameter gets a gradient, keyed and shaped as upstream names them.
        const weights = model.model.exportWeights();
        expect(Object.keys(r.gradients).sort()).toEqual([...weights.keys()].sort());
        for (const name of expected.grad_params) {
          const want = ref.tensors.get(`grad.${tag}.${name}`)!;
          const got = r.gradients[name];
          expect(got.length).toBe(want.data.length);
          expect(weights.get(name)!.shape).toEqual(want.shape);
          let maxAbs = 0;
          for (const v of want.data) maxAbs = Math.max(maxAbs, Math.abs(v));
          const atol = 1e-5 * maxAbs;
          let worst = 0;
          let worstRel = 0;
          for (let i = 0; i < got.length; i++) {
            worst = Math.max(worst, Math.abs(got[i] - want.data[i]) - (atol + 1e-3 * Math.abs(want.data[i])));
            worstRel = Math.max(worstRel, Math.abs(got[i] - want.data[i]) / (atol + 1e-3 * Math.abs(want.data[i])));
          }
          // The share of the tolerance used: |diff| / (atol + 1e-3 |want|), at most 1 to pass.
          recordMeasurement(ref.name, backend, 'grad_rel_to_tol', worstRel);
          if (worst > 0) throw new Error(`${name}: gradient outside rtol 1e-3 / atol ${atol.toExponential(2)} by ${worst.toExponential(2)}`);
        }
      });
    }
  });
}
