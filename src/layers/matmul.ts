/**
 * 2-D matrix products that stay on fast kernels.
 *
 * On the wasm backend, MatMul without transpose flags on 2-D operands runs XNNPACK's GEMM;
 * any transpose flag (and any batch > 1) drops to a naive loop ~15x slower. TensorFlow.js's
 * default MatMul gradient uses transpose flags, so we give `matMul2d` a gradient that
 * transposes explicitly (a cheap memory copy) and then multiplies without flags.
 */
import * as tf from '@tensorflow/tfjs';

const matMulNoFlags = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as tf.Tensor2D[];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy as tf.Tensor2D)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]);

/** [m, k] x [k, n] -> [m, n] with a flag-free gradient. */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return matMulNoFlags(a, b) as tf.Tensor2D;
}

/** x [..., k] times w [k, n] -> [..., n], flattening leading dimensions into one 2-D product. */
export function matMulLast(x: tf.Tensor, w: tf.Tensor2D): tf.Tensor {
  const k = x.shape[x.shape.length - 1];
  const lead = x.shape.slice(0, -1);
  const y = matMul2d(x.reshape([-1, k]) as tf.Tensor2D, w);
  return y.reshape([...lead, w.shape[1]]);
}
