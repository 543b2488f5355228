/**
 * The model's 2-D matrix products.
 *
 * On the wasm backend, tfjs's own BatchMatMul runs XNNPACK only for single matrices without
 * transpose flags and a naive loop otherwise; our replacement kernel (kernels/batch-matmul.ts,
 * registered by initBackend) rewrites every product onto XNNPACK, gradients (which use transpose
 * flags) included. So plain tf.matMul is right everywhere: native TensorFlow and the cpu backend
 * handle flags themselves, and no explicit transposes are paid for on any backend.
 */
import * as tf from '@tensorflow/tfjs';

/** [m, k] x [k, n] -> [m, n]. */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(a, b);
}

/** x [..., k] times w [k, n] -> [..., n], flattening leading dimensions into one 2-D product. */
export function matMulLast(x: tf.Tensor, w: tf.Tensor2D): tf.Tensor {
  const k = x.shape[x.shape.length - 1];
  const lead = x.shape.slice(0, -1);
  const y = matMul2d(x.reshape([-1, k]) as tf.Tensor2D, w);
  return y.reshape([...lead, w.shape[1]]);
}
