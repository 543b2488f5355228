/** One DeBERTa transformer block: attention (+ residual LayerNorm), then the GELU feed-forward (+ residual LayerNorm). */
import * as tf from '@tensorflow/tfjs';
import { Module } from '../layers/module';
import { Linear } from '../layers/linear';
import { LayerNorm } from '../layers/layer-norm';
import { dropout, gelu } from '../layers/activations';
import { DebertaV2Config } from './config';
import { AttentionContext, DisentangledSelfAttention } from './attention';

/** dense -> dropout -> LayerNorm(x + residual): both `attention.output` and `output`. */
class DenseResidualNorm extends Module {
  readonly dense: Linear;
  readonly norm: LayerNorm;

  constructor(inFeatures: number, readonly config: DebertaV2Config) {
    super();
    this.dense = this.addChild('dense', new Linear(inFeatures, config.hiddenSize));
    this.norm = this.addChild('LayerNorm', new LayerNorm(config.hiddenSize, config.layerNormEps));
  }

  apply(x: tf.Tensor, residual: tf.Tensor, training: boolean): tf.Tensor {
    return tf.tidy(() => this.norm.apply(dropout(this.dense.apply(x), this.config.hiddenDropoutProb, training).add(residual)));
  }
}

export class DebertaLayer extends Module {
  readonly selfAttention: DisentangledSelfAttention;
  readonly attentionOutput: DenseResidualNorm;
  readonly intermediate: Linear;
  readonly output: DenseResidualNorm;

  constructor(config: DebertaV2Config) {
    super();
    this.selfAttention = this.addChild('attention.self', new DisentangledSelfAttention(config));
    this.attentionOutput = this.addChild('attention.output', new DenseResidualNorm(config.hiddenSize, config));
    this.intermediate = this.addChild('intermediate.dense', new Linear(config.hiddenSize, config.intermediateSize));
    this.output = this.addChild('output', new DenseResidualNorm(config.intermediateSize, config));
  }

  apply(hidden: tf.Tensor3D, ctx: AttentionContext): tf.Tensor3D {
    return tf.tidy(() => {
      const attended = this.attentionOutput.apply(this.selfAttention.apply(hidden, ctx), hidden, ctx.training);
      const inner = gelu(this.intermediate.apply(attended));
      return this.output.apply(inner, attended, ctx.training) as tf.Tensor3D;
    });
  }
}
