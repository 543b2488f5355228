/**
 * Span representations (upstream gliner/modeling/span_rep.py), both `SpanRepresentation`s:
 *
 * markerV0 (`SpanMarkerV0`, the v1/v2/v2.1 families):
 *   span(s, e) = out_project( relu([ project_start(h_s) ; project_end(h_e) ]) )
 *
 * out_project's first Linear acts on the concatenation, and ReLU is elementwise, so
 *   W [relu(a); relu(b)] = W_start relu(a) + W_end relu(b).
 * We apply each half once per word and add the halves per span: the same numbers as upstream
 * (up to float summation order) for max_width times less work in that layer.
 *
 * marker (`SpanMarker`, GLiNER 0.1.x gliner_base / gliner_multi, NuNER Zero): the same shape of
 * computation with narrower projections (inner width 2D) and out_project a single Linear(2D, D):
 *   span(s, e) = W_start relu(project_start(h_s)) + W_end relu(project_end(h_e)) + b
 */
import * as tf from '@tensorflow/tfjs';
import { Module } from './layers/module';
import { ProjectionFFN } from './layers/ffn';
import { dropout } from './layers/activations';
import { matMulLast } from './layers/matmul';
import { Linear } from './layers/linear';

/** What a span head needs from a span representation. */
export interface SpanRepresentation extends Module {
  readonly maxWidth: number;
  /**
   * words: [B, L, D]; spanStart / spanEnd: [B*L*W] int32 row indices b*L + word (already zeroed
   * for invalid spans, as upstream multiplies span_idx by span_mask). Returns [B, L, W, D].
   */
  apply(words: tf.Tensor3D, spanStart: tf.Tensor1D, spanEnd: tf.Tensor1D, training: boolean): tf.Tensor4D;
}

export class SpanMarkerV0 extends Module implements SpanRepresentation {
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

export class SpanMarker extends Module implements SpanRepresentation {
  readonly projectStart: ProjectionFFN;
  readonly projectEnd: ProjectionFFN;
  readonly outProject: Linear;

  constructor(readonly hiddenSize: number, readonly maxWidth: number, readonly dropoutRate: number) {
    super();
    const D = hiddenSize;
    this.projectStart = this.addChild('project_start', new ProjectionFFN(D, D, dropoutRate, 2 * D));
    this.projectEnd = this.addChild('project_end', new ProjectionFFN(D, D, dropoutRate, 2 * D));
    this.outProject = this.addChild('out_project', new Linear(2 * D, D));
  }

  apply(words: tf.Tensor3D, spanStart: tf.Tensor1D, spanEnd: tf.Tensor1D, training: boolean): tf.Tensor4D {
    return tf.tidy(() => {
      const [B, L, D] = words.shape;
      const w = this.outProject.weightT;
      const startHalf = w.slice([0, 0], [D, D]) as tf.Tensor2D;
      const endHalf = w.slice([D, 0], [D, D]) as tf.Tensor2D;
      // Per word once, then one gather per span end (the ReLU acts on the concatenation's halves).
      const startPart = matMulLast(tf.relu(this.projectStart.apply(words, training)), startHalf).add(this.outProject.bias!).reshape([B * L, D]);
      const endPart = matMulLast(tf.relu(this.projectEnd.apply(words, training)), endHalf).reshape([B * L, D]);
      return tf.gather(startPart, spanStart).add(tf.gather(endPart, spanEnd)).reshape([B, L, this.maxWidth, D]) as tf.Tensor4D;
    });
  }
}
