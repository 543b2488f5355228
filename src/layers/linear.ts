/** torch.nn.Linear: y = x W^T + b, with W stored [out, in] in the checkpoint. */
import * as tf from '@tensorflow/tfjs';
import { Module } from './module';
import { matMulLast } from './matmul';

export class Linear extends Module {
  /** Kept as W^T [in, out] so the forward product needs no transpose flag (see matmul.ts). */
  readonly weightT: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, withBias = true) {
    super();
    this.weightT = this.addParam('weight', [inFeatures, outFeatures], {
      storedShape: [outFeatures, inFeatures],
      toVariable: (w) => w.transpose(),
      toStored: (wt) => wt.transpose(),
    });
    this.bias = withBias ? this.addParam('bias', [outFeatures]) : null;
  }

  apply(x: tf.Tensor): tf.Tensor {
    const y = matMulLast(x, this.weightT as tf.Tensor2D);
    return this.bias ? y.add(this.bias) : y;
  }
}
