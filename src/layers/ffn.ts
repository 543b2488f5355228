/**
 * GLiNER's two-layer projection (upstream `create_projection_layer`):
 * Sequential(Linear(in, 4*out), ReLU, Dropout, Linear(4*out, out)); checkpoint keys `0.*` and `3.*`.
 */
import * as tf from '@tensorflow/tfjs';
import { Module } from './module';
import { Linear } from './linear';
import { dropout } from './activations';

export class ProjectionFFN extends Module {
  readonly first: Linear;
  readonly second: Linear;

  constructor(inFeatures: number, outFeatures: number, readonly dropoutRate: number) {
    super();
    this.first = this.addChild('0', new Linear(inFeatures, outFeatures * 4));
    this.second = this.addChild('3', new Linear(outFeatures * 4, outFeatures));
  }

  apply(x: tf.Tensor, training = false): tf.Tensor {
    return tf.tidy(() => this.second.apply(dropout(tf.relu(this.first.apply(x)), this.dropoutRate, training)));
  }
}
