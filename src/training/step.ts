/**
 * One forward/backward pass over a prepared training batch: the loss and the gradient of every
 * trainable parameter, keyed by the checkpoint's parameter names.
 */
import * as tf from '@tensorflow/tfjs';
import { GlinerModel } from '../model';
import { WordTokenizer, buildBatch } from '../processing/batch';
import { modelInputFromCollated } from '../processing/model-input';
import { PreparedBatch, tokenLevelTargets } from './data/batching';
import { LossOptions, spanLoss, tokenLoss } from './loss';
import { OutputKind } from '../heads';

/**
 * The loss of a batch for each head output kind (heads.ts). Each returns a function of the logits
 * so that the target tensors are made once, outside the gradient tape.
 */
const BATCH_LOSSES: Record<OutputKind, (batch: PreparedBatch, options: LossOptions) => (logits: tf.Tensor4D) => tf.Scalar> = {
  span: (batch, options) => {
    const { batchSize: B, maxWords: L, maxWidth: W, numClasses: C } = batch;
    const labels = tf.tensor3d(batch.labels, [B, L * W, C]);
    const spanMask = tf.tensor2d(Float32Array.from(batch.spanMask), [B, L * W]);
    const classMask = tf.tensor2d(Float32Array.from(batch.classMask), [B, C]);
    return (logits) => spanLoss(logits, labels, spanMask, classMask, options);
  },
  token: (batch, options) => {
    const { batchSize: B, maxWords: L, numClasses: C } = batch;
    const targets = tokenLevelTargets(batch);
    const labels = tf.tensor4d(targets.labels, [B, L, C, 3]);
    const mask = tf.tensor3d(targets.mask, [B, L, C]);
    return (logits) => tokenLoss(logits, labels, mask, options);
  },
};

export interface StepResult {
  /** The loss as a tensor (kept: the caller disposes). */
  loss: tf.Scalar;
  /** Gradients in the variables' own layout (e.g. Linear weights transposed), keyed by parameter name. */
  grads: Map<string, tf.Tensor>;
}

export interface StepContext {
  model: GlinerModel;
  tokenizer: WordTokenizer;
  classTokenId: number;
  /** Names of the parameters to differentiate (default: all). */
  trainable?: ReadonlySet<string>;
}

/** Forward in training mode (dropout on) and backward. Every tensor it makes is released but the result's. */
export function lossAndGrads(ctx: StepContext, batch: PreparedBatch, lossOptions: LossOptions, training = true): StepResult {
  const { model } = ctx;
  const cfg = model.config;
  const collated = buildBatch(
    batch.examples.map((e) => ({ words: e.tokens, labels: e.prompts ?? e.classes })),
    ctx.tokenizer,
    { entToken: cfg.entToken, sepToken: cfg.sepToken },
  );
  const input = modelInputFromCollated(collated, ctx.classTokenId, cfg.embedEntToken);
  if (input.numWords !== batch.maxWords || input.numClasses !== batch.numClasses) {
    throw new Error(`internal: batch shapes disagree (words ${input.numWords} vs ${batch.maxWords}, classes ${input.numClasses} vs ${batch.numClasses})`);
  }
  const named = model.namedParameters().filter(([name]) => !ctx.trainable || ctx.trainable.has(name));
  // tf.tidy keeps tensors found in plain objects (not Maps), so collect them in a record first.
  const kept = tf.tidy(() => {
    const loss = BATCH_LOSSES[model.output](batch, lossOptions);
    const { value, grads } = tf.variableGrads(() => loss(model.forward(input, training).logits), named.map(([, p]) => p.variable));
    const byName: Record<string, tf.Tensor> = {};
    for (const [name, p] of named) {
      const g = grads[p.variable.name];
      if (g) byName[name] = g;
    }
    return { loss: value, grads: byName };
  });
  return { loss: kept.loss as tf.Scalar, grads: new Map(Object.entries(kept.grads)) };
}

/** Gradients in the checkpoint layout (e.g. [out, in] Linear weights), as host arrays. */
export function gradsToStored(model: GlinerModel, grads: Map<string, tf.Tensor>): Record<string, Float32Array> {
  const layouts = new Map(model.namedParameters());
  const out: Record<string, Float32Array> = {};
  for (const [name, g] of grads) {
    const layout = layouts.get(name)!.layout;
    const stored = tf.tidy(() => (layout.toStored ? layout.toStored(g) : g.clone()));
    out[name] = stored.dataSync() as Float32Array;
    stored.dispose();
  }
  return out;
}

/** sqrt(sum of squares) over all gradients, accumulated in float64 on the host side of each tensor's sum. */
export function globalGradNorm(grads: Iterable<tf.Tensor>): number {
  let total = 0;
  for (const g of grads) {
    const s = tf.tidy(() => g.square().sum());
    total += s.dataSync()[0];
    s.dispose();
  }
  return Math.sqrt(total);
}
