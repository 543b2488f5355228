/** Activations with the exact definitions PyTorch uses. */
import * as tf from '@tensorflow/tfjs';

/** GELU in its exact erf form (transformers' "gelu" = torch.nn.functional.gelu, not the tanh approximation). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => x.mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)).mul(0.5));
}

/** Where dropout masks take their seeds while `withDropoutSeeds` runs; null: tfjs's own (Math.random). */
let nextDropoutSeed: (() => number) | null = null;

/**
 * Run `fn` (synchronous) with every dropout mask seeded from `next()`, so that a training step is
 * reproducible without the model's blocks passing seeds around. Nests; restores on exit.
 */
export function withDropoutSeeds<T>(next: () => number, fn: () => T): T {
  const outer = nextDropoutSeed;
  nextDropoutSeed = next;
  try {
    return fn();
  } finally {
    nextDropoutSeed = outer;
  }
}

/** Inverted dropout, active only in training (p = 0 or inference returns x unchanged). */
export function dropout(x: tf.Tensor, rate: number, training: boolean, seed?: number): tf.Tensor {
  if (!training || rate <= 0) return x;
  return tf.dropout(x, rate, undefined, seed ?? nextDropoutSeed?.());
}
