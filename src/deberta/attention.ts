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
  /** Flat gather indices [H*B*T*T] into a [H*B*T*2span] c2p / p2c product (see encoder.ts). */
  c2pIndex: tf.Tensor1D | null;
  p2cIndex: tf.Tensor1D | null;
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

  /** c2p + p2c terms, [H*B, T, T], before the common scaling. q, k: [H, B*T, d]. */
  private relativeScores(q: tf.Tensor3D, k: tf.Tensor3D, ctx: AttentionContext): tf.Tensor {
    const { batch: B, length: T } = ctx;
    const H = this.numHeads;
    const rel = ctx.relEmbeddings!;
    const span2 = rel.shape[0];
    // [2S, H*d] -> [H, d, 2S]
    const relHeadsT = (proj: Linear) => proj.apply(rel).reshape([span2, H, this.headDim]).transpose([1, 2, 0]) as tf.Tensor3D;
    let total: tf.Tensor | null = null;
    const types = this.config.posAttType;
    if (types.includes('c2p')) {
      const c2p = tf.matMul(q, relHeadsT(this.keyProj)); // [H, B*T, 2S]
      total = tf.gather(c2p.reshape([-1]), ctx.c2pIndex!).reshape([H * B, T, T]);
    }
    if (types.includes('p2c')) {
      const p2c = tf.matMul(k, relHeadsT(this.queryProj)); // [H, B*T(key), 2S]
      // The index reads key j's row at p2c(j, i) and lays the result out as [query i, key j].
      const gathered = tf.gather(p2c.reshape([-1]), ctx.p2cIndex!).reshape([H * B, T, T]);
      total = total ? total.add(gathered) : gathered;
    }
    return total ?? tf.zeros([H * B, T, T]);
  }
}
