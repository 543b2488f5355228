/**
 * DeBERTa's disentangled self-attention (transformers' DisentangledSelfAttention, v3 settings:
 * share_att_key, relative attention with c2p and p2c terms):
 *
 *   score(i, j) = [ q_i.k_j  +  q_i.pk_{c2p(i,j)}  +  k_j.pq_{p2c(j,i)} ] / sqrt(head_dim * (1 + #pos_att_types))
 *
 * where pk / pq are the (layer-normed) relative embeddings projected by this layer's own
 * key / query projections. Rows of padded queries get all-zero probabilities (XSoftmax).
 */
import * as tf from '@tensorflow/tfjs';
import { Module } from '../layers/module';
import { Linear } from '../layers/linear';
import { dropout } from '../layers/activations';
import { DebertaV2Config } from './config';
import { buildRelativePosition, disentangledIndices } from './relative-position';

/** Everything a layer's attention needs that depends only on the batch, computed once per forward. */
export interface AttentionContext {
  batch: number;
  length: number;
  /** [1, B, 1, T]: 0 where the key is real, a large negative number where it is padding. */
  keyBias: tf.Tensor;
  /** [1, B, T, 1]: 1 for real queries, 0 for padded ones (their probabilities become 0). */
  queryMask: tf.Tensor;
  /** Layer-normed relative embeddings [2*span, hidden], or null without relative attention. */
  relEmbeddings: tf.Tensor2D | null;
  training: boolean;
}

export class DisentangledSelfAttention extends Module {
  readonly queryProj: Linear;
  readonly keyProj: Linear;
  readonly valueProj: Linear;
  readonly numHeads: number;
  readonly headDim: number;
  private readonly scale: number;

  constructor(readonly config: DebertaV2Config) {
    super();
    const h = config.hiddenSize;
    this.numHeads = config.numAttentionHeads;
    this.headDim = h / this.numHeads;
    this.queryProj = this.addChild('query_proj', new Linear(h, h));
    this.keyProj = this.addChild('key_proj', new Linear(h, h));
    this.valueProj = this.addChild('value_proj', new Linear(h, h));
    const scaleFactor = 1 + (config.relativeAttention ? config.posAttType.length : 0);
    this.scale = Math.sqrt(this.headDim * scaleFactor);
  }

  /**
   * [B*T, H*d] -> [H, B*T, d]: head-major, so that products with the relative embeddings
   * ([H, d, 2S]) batch over heads only, with no broadcasting (tfjs's BatchMatMul gradient does not
   * reduce broadcast dimensions). Viewed as [H*B, T, d], batch n = h*B + b.
   */
  private heads(x: tf.Tensor, rows: number): tf.Tensor3D {
    return x.reshape([rows, this.numHeads, this.headDim]).transpose([1, 0, 2]);
  }

  apply(hidden: tf.Tensor3D, ctx: AttentionContext): tf.Tensor3D {
    return tf.tidy(() => {
      const { batch: B, length: T } = ctx;
      const H = this.numHeads;
      const d = this.headDim;
      const x = hidden.reshape([B * T, -1]);
      const q = this.heads(this.queryProj.apply(x), B * T);
      const k = this.heads(this.keyProj.apply(x), B * T);
      const v = this.heads(this.valueProj.apply(x), B * T);
      const qn = q.reshape([H * B, T, d]);
      const kn = k.reshape([H * B, T, d]);

      let scores: tf.Tensor = tf.matMul(qn, kn, false, true); // [H*B, T, T]
      if (ctx.relEmbeddings) scores = scores.add(this.relativeScores(q, k, ctx));
      scores = scores.div(this.scale).reshape([H, B, T, T]).add(ctx.keyBias);
      let probs = tf.softmax(scores, -1).mul(ctx.queryMask);
      probs = dropout(probs, this.config.attentionProbsDropoutProb, ctx.training);

      const context = tf.matMul(probs.reshape([H * B, T, T]) as tf.Tensor3D, v.reshape([H * B, T, d])); // [H*B, T, d]
      return context.reshape([H, B * T, d]).transpose([1, 0, 2]).reshape([B, T, H * d]) as tf.Tensor3D;
    });
  }

  /**
   * c2p + p2c terms, [H*B, T, T], before the common scaling. q, k: [H, B*T, d].
   *
   * Only the relative embeddings a length-T input can reach are projected (rows [lo, lo+n) of
   * the 2S, see relativeLayout), which for short inputs is a fraction of the 2S rows (the
   * projection of all 2S rows through two 768x768 matrices per layer costs as much as the
   * rest of the layer for a 60-token text). The products are gathered into score layout by one
   * gather along axis 1 with a [T*T] index shared by every head and batch row.
   */
  private relativeScores(q: tf.Tensor3D, k: tf.Tensor3D, ctx: AttentionContext): tf.Tensor {
    const { batch: B, length: T } = ctx;
    const H = this.numHeads;
    const rel = ctx.relEmbeddings!;
    const layout = relativeLayout(T, rel.shape[0] / 2, this.config.positionBuckets, this.config.maxRelativePositions);
    const { lo, n } = layout;
    const used = n === rel.shape[0] ? rel : rel.slice([lo, 0], [n, -1]);
    // [n, H*d] -> [H, d, n]
    const relHeadsT = (proj: Linear) => proj.apply(used).reshape([n, H, this.headDim]).transpose([1, 2, 0]) as tf.Tensor3D;
    // [H, B*T, n] -> rows n = h*B + b, each T*n long, gathered into [H*B, T, T].
    const toScores = (product: tf.Tensor, index: Int32Array) =>
      tf.gather(product.reshape([H * B, T * n]), tf.tensor1d(index, 'int32'), 1).reshape([H * B, T, T]);
    let total: tf.Tensor | null = null;
    const types = this.config.posAttType;
    if (types.includes('c2p')) {
      total = toScores(tf.matMul(q, relHeadsT(this.keyProj)), layout.c2p);
    }
    if (types.includes('p2c')) {
      // Key j's row, read at p2c(j, i), laid out as [query i, key j].
      const gathered = toScores(tf.matMul(k, relHeadsT(this.queryProj)), layout.p2c);
      total = total ? total.add(gathered) : gathered;
    }
    return total ?? tf.zeros([H * B, T, T]);
  }
}

/** Where a length-T input reads the [2S] relative-embedding axis, and how to lay the products out as scores. */
export interface RelativeLayout {
  /** First row of the 2S relative embeddings any (query, key) pair uses, and how many rows from there. */
  lo: number;
  n: number;
  /** [T*T] offsets into one [T, n] product: c2p[i*T + j] = i*n + c2p(i, j) - lo. */
  c2p: Int32Array;
  /** [T*T]: p2c[i*T + j] = j*n + p2c(j, i) - lo (key j's row; the transpose upstream applies). */
  p2c: Int32Array;
}

const layoutCache = new Map<string, RelativeLayout>();

/**
 * The relative-position layout for length T (host arrays, cached per length): the index sets of
 * transformers' DeBERTa, c2p(i, j) = clamp(bucket(i - j) + S) and p2c(j, i) = clamp(-bucket(j - i) + S)
 * into [0, 2S), computed by relative-position.ts, restricted to the rows they actually touch.
 */
export function relativeLayout(T: number, span: number, positionBuckets: number, maxRelativePositions: number): RelativeLayout {
  const key = `${T},${span},${positionBuckets},${maxRelativePositions}`;
  const cached = layoutCache.get(key);
  if (cached) return cached;
  const { c2p, p2c } = disentangledIndices(buildRelativePosition(T, T, positionBuckets, maxRelativePositions), T, span);
  let lo = Infinity;
  let hi = -Infinity;
  for (let x = 0; x < T * T; x++) {
    lo = Math.min(lo, c2p[x], p2c[x]);
    hi = Math.max(hi, c2p[x], p2c[x]);
  }
  const n = hi - lo + 1;
  const c2pOut = new Int32Array(T * T);
  const p2cOut = new Int32Array(T * T);
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) {
      c2pOut[i * T + j] = i * n + c2p[i * T + j] - lo;
      p2cOut[i * T + j] = j * n + p2c[j * T + i] - lo;
    }
  }
  const layout = { lo, n, c2p: c2pOut, p2c: p2cOut };
  // A handful of lengths recur in practice; keep the cache from growing without bound.
  if (layoutCache.size >= 16) layoutCache.delete(layoutCache.keys().next().value!);
  layoutCache.set(key, layout);
  return layout;
}
