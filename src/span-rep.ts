/**
 * GLiNER's markerV0 span representation:
 *   span(s, e) = out_project( relu([ project_start(h_s) ; project_end(h_e) ]) )
 *
 * out_project's first Linear acts on the concatenation, and ReLU is elementwise, so
 *   W [relu(a); relu(b)] = W_start relu(a) + W_end relu(b).
 * We apply each half once per word and add the halves per span: the same numbers as upstream
 * (up to float summation order) for max_width times less work in that layer.
 */
import * as tf from '@tensorflow/tfjs';
import { Module } from './layers/module';
import { ProjectionFFN } from './layers/ffn';
import { dropout } from './layers/activations';
import { matMulLast } from './layers/matmul';

export class SpanMarkerV0 extends Module {
  readonly projectStart: ProjectionFFN;
  readonly projectEnd: ProjectionFFN;
  readonly outProject: ProjectionFFN;

  constructor(readonly hiddenSize: number, readonly maxWidth: number, readonly dropoutRate: number) {
    super();
    this.projectStart = this.addChild('project_start', new ProjectionFFN(hiddenSize, hiddenSize, dropoutRate));
    this.projectEnd = this.addChild('project_end', new ProjectionFFN(hiddenSize, hiddenSize, dropoutRate));
    this.outProject = this.addChild('out_project', new ProjectionFFN(hiddenSize * 2, hiddenSize, dropoutRate));
  }

  /**
   * words: [B, L, D]; spanStart / spanEnd: [B*L*W] int32 word indices (already zeroed for
   * invalid spans, as upstream multiplies span_idx by span_mask). Returns [B, L, W, D].
   */
  apply(words: tf.Tensor3D, spanStart: tf.Tensor1D, spanEnd: tf.Tensor1D, training: boolean): tf.Tensor4D {
    return tf.tidy(() => {
      const [B, L, D] = words.shape;
      const first = this.outProject.first;
      const startHalf = first.weightT.slice([0, 0], [D, 4 * D]) as tf.Tensor2D;
      const endHalf = first.weightT.slice([D, 0], [D, 4 * D]) as tf.Tensor2D;
      // The bias joins the per-word start half, so the per-span work is two gathers and one add.
      const startPart = matMulLast(tf.relu(this.projectStart.apply(words, training)), startHalf).add(first.bias!).reshape([B * L, 4 * D]);
      const endPart = matMulLast(tf.relu(this.projectEnd.apply(words, training)), endHalf).reshape([B * L, 4 * D]);
      // Rows are indexed b*L + word. The [B*L*W, 4D] intermediates are the model's largest
      // tensors (448 MB each at 8 x 380 words): free each as soon as it is used (the backward
      // pass keeps its own references where it needs them).
      const starts = tf.gather(startPart, spanStart);
      const ends = tf.gather(endPart, spanEnd);
      const sum = starts.add(ends);
      tf.dispose([starts, ends]);
      let hidden = tf.relu(sum);
      sum.dispose();
      hidden = dropout(hidden, this.dropoutRate, training);
      return this.outProject.second.apply(hidden).reshape([B, L, this.maxWidth, D]) as tf.Tensor4D;
    });
  }
}
