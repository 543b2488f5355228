/** torch.nn.Embedding: a [num, dim] table looked up by integer ids. */
import * as tf from '@tensorflow/tfjs';
import { Module } from './module';

export class Embedding extends Module {
  readonly weight: tf.Variable;

  constructor(readonly numEmbeddings: number, readonly dim: number) {
    super();
    this.weight = this.addParam('weight', [numEmbeddings, dim]);
  }

  apply(ids: tf.Tensor): tf.Tensor {
    return tf.gather(this.weight, ids.toInt());
  }
}
