/** torch.nn.LayerNorm over the last axis, with the epsilon from the model config (DeBERTa: 1e-7). */
import * as tf from '@tensorflow/tfjs';
import { Module } from './module';

export class LayerNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(readonly size: number, readonly eps: number) {
    super();
    this.weight = this.addParam('weight', [size]);
    this.bias = this.addParam('bias', [size]);
  }

  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const axis = x.rank - 1;
      const mean = x.mean(axis, true);
      const centered = x.sub(mean);
      // Biased variance, as PyTorch's LayerNorm.
      const variance = centered.square().mean(axis, true);
      return centered.mul(variance.add(this.eps).rsqrt()).mul(this.weight).add(this.bias);
    });
  }
}
