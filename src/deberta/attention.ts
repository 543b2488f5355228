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
  /** [B, 1, 1, T]: 0 where the key is real, a large negative number where it is padding. */
  keyBias: tf.Tensor;
  /** [B, 1, T, 1]: 1 for real queries, 0 for padded ones (their probabilities become 0). */
  queryMask: tf.Tensor;
  /** Layer-normed relative embeddings [2*span, hidden], or null without relative attention. */
  relEmbeddings: tf.Tensor2D | null;
  /** Flat gather indices [B*H*T*T] into a [B*H*T*2span] c2p / p2c product (see encoder.ts). */
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

  /** [B, T, H*d] -> [B, H, T, d] */
  private heads(x: tf.Tensor, batch: number, length: number): tf.Tensor4D {
    return x.reshape([batch, length, this.numHeads, this.headDim]).transpose([0, 2, 1, 3]);
  }

  apply(hidden: tf.Tensor3D, ctx: AttentionContext): tf.Tensor3D {
    return tf.tidy(() => {
      const { batch: B, length: T } = ctx;
      const q = this.heads(this.queryProj.apply(hidden), B, T);
      const k = this.heads(this.keyProj.apply(hidden), B, T);
      const v = this.heads(this.valueProj.apply(hidden), B, T);

      let scores: tf.Tensor = tf.matMul(q, k, false, true);
      if (ctx.relEmbeddings) scores = scores.add(this.relativeScores(q, k, ctx));
      scores = scores.div(this.scale).add(ctx.keyBias);
      let probs = tf.softmax(scores, -1).mul(ctx.queryMask);
      probs = dropout(probs, this.config.attentionProbsDropoutProb, ctx.training);

      const context = tf.matMul(probs as tf.Tensor4D, v); // [B, H, T, d]
      return context.transpose([0, 2, 1, 3]).reshape([B, T, this.numHeads * this.headDim]) as tf.Tensor3D;
    });
  }

  /** c2p + p2c terms, [B, H, T, T], before the common scaling. */
  private relativeScores(q: tf.Tensor4D, k: tf.Tensor4D, ctx: AttentionContext): tf.Tensor {
    const { batch: B, length: T } = ctx;
    const rel = ctx.relEmbeddings!;
    const span2 = rel.shape[0];
    const relHeads = (proj: Linear) =>
      proj.apply(rel).reshape([1, span2, this.numHeads, this.headDim]).transpose([0, 2, 1, 3]); // [1, H, 2S, d]
    let total: tf.Tensor | null = null;
    const types = this.config.posAttType;
    if (types.includes('c2p')) {
      const c2p = tf.matMul(q, relHeads(this.keyProj), false, true); // [B, H, T, 2S]
      const gathered = tf.gather(c2p.reshape([-1]), ctx.c2pIndex!).reshape([B, this.numHeads, T, T]);
      total = gathered;
    }
    if (types.includes('p2c')) {
      const p2c = tf.matMul(k, relHeads(this.queryProj), false, true); // [B, H, T(key), 2S]
      // The index reads key j's row at p2c(j, i) and lays the result out as [query i, key j].
      const gathered = tf.gather(p2c.reshape([-1]), ctx.p2cIndex!).reshape([B, this.numHeads, T, T]);
      total = total ? total.add(gathered) : gathered;
    }
    return total ?? tf.zeros([B, this.numHeads, T, T]);
  }
}
