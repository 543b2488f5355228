/**
 * GLiNER's two-layer projection (upstream `create_projection_layer`):
 * Sequential(Linear(in, inner), ReLU, Dropout, Linear(inner, out)); checkpoint keys `0.*` and `3.*`.
 * `inner` is 4*out for markerV0 and the prompt FFN, 2*out in the `marker` span head, 4*D for the
 * token scorer's 3-way output (whose Dropout/ReLU order is swapped: the same function).
 */
import * as tf from '@tensorflow/tfjs';
import { Module } from './module';
import { Linear } from './linear';
import { dropout } from './activations';

export class ProjectionFFN extends Module {
  readonly first: Linear;
  readonly second: Linear;

  constructor(inFeatures: number, outFeatures: number, readonly dropoutRate: number, innerFeatures = outFeatures * 4) {
    super();
    this.first = this.addChild('0', new Linear(inFeatures, innerFeatures));
    this.second = this.addChild('3', new Linear(innerFeatures, outFeatures));
  }

  apply(x: tf.Tensor, training = false): tf.Tensor {
    return tf.tidy(() => this.second.apply(dropout(tf.relu(this.first.apply(x)), this.dropoutRate, training)));
  }
}
