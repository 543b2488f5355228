/**
 * A bidirectional single-layer LSTM with PyTorch's parameters and semantics
 * (gate order i, f, g, o; h0 = c0 = 0; both biases), run over padded batches exactly as
 * `pack_padded_sequence` would: each sequence is read over its own length only and the
 * outputs past that length are zero.
 *
 * The backward direction walks t = L-1 .. 0 and resets its state to zero while t is past a
 * sequence's end, so the state entering the last real word is zero, as packing guarantees,
 * without gathering reversed copies of the input.
 */
import * as tf from '@tensorflow/tfjs';
import { Module } from './module';
import { matMul2d, matMulLast } from './matmul';

class LstmDirection {
  constructor(
    readonly wIhT: tf.Variable, // [in, 4H]
    readonly wHhT: tf.Variable, // [H, 4H]
    readonly bIh: tf.Variable,
    readonly bHh: tf.Variable,
  ) {}
}

export class BiLSTM extends Module {
  private readonly forward: LstmDirection;
  private readonly backward: LstmDirection;

  constructor(readonly inputSize: number, readonly hiddenSize: number) {
    super();
    const make = (suffix: string) => {
      const transposed = (rows: number, cols: number) => ({
        storedShape: [rows, cols],
        toVariable: (w: tf.Tensor) => w.transpose(),
        toStored: (w: tf.Tensor) => w.transpose(),
      });
      const g = 4 * hiddenSize;
      return new LstmDirection(
        this.addParam(`weight_ih_l0${suffix}`, [inputSize, g], transposed(g, inputSize)),
        this.addParam(`weight_hh_l0${suffix}`, [hiddenSize, g], transposed(g, hiddenSize)),
        this.addParam(`bias_ih_l0${suffix}`, [g]),
        this.addParam(`bias_hh_l0${suffix}`, [g]),
      );
    };
    this.forward = make('');
    this.backward = make('_reverse');
  }

  /**
   * x: [B, L, in]; lengths: real length of each row (<= L).
   * Returns [B, L, 2H] = concat(forward, backward), zero past each row's length.
   */
  apply(x: tf.Tensor3D, lengths: readonly number[]): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, steps] = x.shape;
      // valid[t] is a [B, 1] mask that is 1 where t < length.
      const valid: tf.Tensor2D[] = [];
      for (let t = 0; t < steps; t++) {
        valid.push(tf.tensor2d(lengths.map((n) => (t < n ? 1 : 0)), [batch, 1]));
      }
      const fwd = this.run(this.forward, x, valid, false);
      const bwd = this.run(this.backward, x, valid, true);
      return tf.concat([fwd, bwd], 2) as tf.Tensor3D;
    });
  }

  private run(dir: LstmDirection, x: tf.Tensor3D, valid: tf.Tensor2D[], reverse: boolean): tf.Tensor3D {
    const [batch, steps] = x.shape;
    // Input contributions for every step in one product.
    const xProj = matMulLast(x, dir.wIhT as tf.Tensor2D).add(dir.bIh.add(dir.bHh)) as tf.Tensor3D;
    const inputs = tf.unstack(xProj, 1) as tf.Tensor2D[];
    let h = tf.zeros([batch, this.hiddenSize]) as tf.Tensor2D;
    let c = tf.zeros([batch, this.hiddenSize]) as tf.Tensor2D;
    const outputs: tf.Tensor2D[] = new Array(steps);
    for (let k = 0; k < steps; k++) {
      const t = reverse ? steps - 1 - k : k;
      const gates = inputs[t].add(matMul2d(h, dir.wHhT as tf.Tensor2D)) as tf.Tensor2D;
      const [i, f, g, o] = tf.split(gates, [this.hiddenSize, this.hiddenSize, this.hiddenSize, this.hiddenSize], 1);
      c = tf.sigmoid(f).mul(c).add(tf.sigmoid(i).mul(tf.tanh(g)));
      h = tf.sigmoid(o).mul(tf.tanh(c));
      // Zero the state (and the output) wherever t is past the row's end.
      c = c.mul(valid[t]);
      h = h.mul(valid[t]);
      outputs[t] = h;
    }
    return tf.stack(outputs, 1) as tf.Tensor3D;
  }
}
