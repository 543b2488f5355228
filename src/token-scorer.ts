/**
 * The token-level GLiNER scorer (upstream `Scorer` in gliner/modeling/scorers.py), checkpoint keys
 * `scorer.*`: for every word w and class c, three logits (start, end, inside).
 *
 *   t = proj_token(word)  [2D] = (t0, t1);   l = proj_label(prompt) [2D] = (l0, l1)
 *   logits[w, c] = out_mlp( [t0 ; l0 ; t1 * l1] )          out_mlp: 3D -> 4D -> 3
 *
 * out_mlp's first Linear acts on a concatenation, so it splits into three blocks; the t0 and l0
 * blocks are applied once per word and once per class, and only the product block per (w, c).
 */
import * as tf from '@tensorflow/tfjs';
import { Module } from './layers/module';
import { Linear } from './layers/linear';
import { ProjectionFFN } from './layers/ffn';
import { dropout } from './layers/activations';
import { matMulLast } from './layers/matmul';

export class TokenScorer extends Module {
  readonly projToken: Linear;
  readonly projLabel: Linear;
  readonly outMlp: ProjectionFFN;

  constructor(readonly hiddenSize: number, readonly dropoutRate: number) {
    super();
    const D = hiddenSize;
    this.projToken = this.addChild('proj_token', new Linear(D, 2 * D));
    this.projLabel = this.addChild('proj_label', new Linear(D, 2 * D));
    // Upstream: Sequential(Linear(3D, 4D), Dropout, ReLU, Linear(4D, 3)); dropout and ReLU commute.
    this.outMlp = this.addChild('out_mlp', new ProjectionFFN(3 * D, 3, dropoutRate, 4 * D));
  }

  /** words [B, L, D], prompts [B, C, D] -> logits [B, L, C, 3]. */
  apply(words: tf.Tensor3D, prompts: tf.Tensor3D, training: boolean): tf.Tensor4D {
    return tf.tidy(() => {
      const [B, L, D] = words.shape;
      const C = prompts.shape[1];
      const t = this.projToken.apply(words);
      const l = this.projLabel.apply(prompts);
      const t0 = t.slice([0, 0, 0], [B, L, D]);
      const t1 = t.slice([0, 0, D], [B, L, D]);
      const l0 = l.slice([0, 0, 0], [B, C, D]);
      const l1 = l.slice([0, 0, D], [B, C, D]);
      const first = this.outMlp.first;
      const w = first.weightT; // [3D, 4D]
      const H = this.outMlp.first.outFeatures;
      const wT = w.slice([0, 0], [D, H]) as tf.Tensor2D;
      const wL = w.slice([D, 0], [D, H]) as tf.Tensor2D;
      const wP = w.slice([2 * D, 0], [D, H]) as tf.Tensor2D;
      const perWord = matMulLast(t0, wT).add(first.bias!).reshape([B, L, 1, H]);
      const perClass = matMulLast(l0, wL).reshape([B, 1, C, H]);
      const product = t1.reshape([B, L, 1, D]).mul(l1.reshape([B, 1, C, D]));
      const pre = matMulLast(product, wP).add(perWord).add(perClass);
      const hidden = dropout(tf.relu(pre), this.dropoutRate, training);
      return this.outMlp.second.apply(hidden) as tf.Tensor4D;
    });
  }
}
