/**
 * GLiNER's span loss, exactly as upstream computes it (`focal_loss_with_logits` +
 * `UniEncoderSpanModel.loss`), element-wise over [B, L*W, C]:
 *
 *   p  = sigmoid(x) (float32), pm = clamp(p - prob_margin, 0, 1)
 *   y' = y (1 - s) + s/2                                   (label smoothing s)
 *   l  = -y' log(max(p, 1e-6)) - (1 - y') log(max(1 - pm, 1e-6))
 *   l *= (1 - p_t)^gamma,  p_t = p y' + (1 - pm)(1 - y')    (if gamma > 0)
 *   l *= alpha y' + (1 - alpha)(1 - y')                     (if alpha >= 0)
 *   l *= class mask * span mask
 *
 * The log of the float32 sigmoid clamped at 1e-6 (not a log-sigmoid) is kept on purpose: a logit
 * beyond ~13.8 on the wrong side contributes a constant 13.8155 and no gradient, as upstream.
 * reduction 'sum' adds everything; 'mean' divides by the number of valid spans (not spans x classes).
 */
import * as tf from '@tensorflow/tfjs';

export type LossReduction = 'sum' | 'mean';

export interface LossOptions {
  /** Focal alpha; negative disables class balancing (upstream default -1). */
  alpha: number;
  /** Focal gamma; 0 is plain binary cross-entropy. */
  gamma: number;
  labelSmoothing: number;
  reduction: LossReduction;
  probMargin?: number;
}

export const DEFAULT_LOSS: LossOptions = { alpha: -1, gamma: 0, labelSmoothing: 0, reduction: 'sum', probMargin: 0 };

const EPS = 1e-6;

export function validateLossOptions(o: LossOptions): void {
  const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  if (!finite(o.alpha) || o.alpha > 1) throw new RangeError(`loss alpha must be a number <= 1 (negative disables it), got ${String(o.alpha)}`);
  if (!finite(o.gamma) || o.gamma < 0) throw new RangeError(`loss gamma must be a number >= 0, got ${String(o.gamma)}`);
  if (!finite(o.labelSmoothing) || o.labelSmoothing < 0 || o.labelSmoothing > 1) {
    throw new RangeError(`label smoothing must be in [0, 1], got ${String(o.labelSmoothing)}`);
  }
  if (o.reduction !== 'sum' && o.reduction !== 'mean') throw new RangeError(`loss reduction must be 'sum' or 'mean', got '${String(o.reduction)}'`);
}

/**
 * logits [B, L, W, C]; labels [B, L*W, C] (0/1); spanMask [B, L*W] (0/1); classMask [B, C] (0/1).
 * Returns a scalar.
 */
export function spanLoss(logits: tf.Tensor, labels: tf.Tensor, spanMask: tf.Tensor, classMask: tf.Tensor, options: LossOptions): tf.Scalar {
  return tf.tidy(() => {
    const [B, L, W, C] = logits.shape;
    const loss = elementLoss(logits.reshape([B, L * W, C]), labels, options).mul(classMask.reshape([B, 1, C])).mul(spanMask.reshape([B, L * W, 1]));
    const total = loss.sum();
    if (options.reduction === 'sum') return total as tf.Scalar;
    const valid = spanMask.sum();
    // No valid span: upstream returns 0 rather than dividing by zero.
    return tf.where(valid.greater(0), total.div(tf.maximum(valid, 1)), tf.zerosLike(total)) as tf.Scalar;
  });
}

/**
 * The token-level loss (upstream UniEncoderTokenModel.loss): the same element loss over
 * logits / labels [B, L, C, 3], times mask [B, L, C] (word inside the text and real class) on all
 * three channels. 'mean' divides by the number of valid (word, class) pairs, not by 3 times that.
 */
export function tokenLoss(logits: tf.Tensor, labels: tf.Tensor, mask: tf.Tensor, options: LossOptions): tf.Scalar {
  return tf.tidy(() => {
    const [B, L, C] = logits.shape;
    const total = elementLoss(logits, labels, options).mul(mask.reshape([B, L, C, 1])).sum();
    if (options.reduction === 'sum') return total as tf.Scalar;
    const valid = mask.sum();
    return tf.where(valid.greater(0), total.div(tf.maximum(valid, 1)), tf.zerosLike(total)) as tf.Scalar;
  });
}

/** The per-element focal / BCE loss of the file comment, before masks. */
function elementLoss(x: tf.Tensor, labels: tf.Tensor, options: LossOptions): tf.Tensor {
  return tf.tidy(() => {
    let y = labels;
    const s = options.labelSmoothing;
    if (s !== 0) y = y.mul(1 - s).add(0.5 * s);
    const p = tf.sigmoid(x);
    const margin = options.probMargin ?? 0;
    const pm = margin === 0 ? p : tf.clipByValue(p.sub(margin), 0, 1);
    const oneMinusPm = tf.sub(1, pm);
    const oneMinusY = tf.sub(1, y);
    let loss = y.mul(tf.log(tf.maximum(p, EPS))).add(oneMinusY.mul(tf.log(tf.maximum(oneMinusPm, EPS)))).neg();
    if (options.gamma > 0) {
      const pt = p.mul(y).add(oneMinusPm.mul(oneMinusY));
      loss = loss.mul(tf.pow(tf.sub(1, pt), options.gamma));
    }
    if (options.alpha >= 0) loss = loss.mul(y.mul(options.alpha).add(oneMinusY.mul(1 - options.alpha)));
    return loss;
  });
}
