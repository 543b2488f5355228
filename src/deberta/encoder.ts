/** The DeBERTa-v2/v3 encoder stack and the model (embeddings + encoder) as transformers' DebertaV2Model. */
import * as tf from '@tensorflow/tfjs';
import { Module } from '../layers/module';
import { Embedding } from '../layers/embedding';
import { LayerNorm } from '../layers/layer-norm';
import { DebertaV2Config } from './config';
import { AttentionContext } from './attention';
import { DebertaLayer } from './layer';
import { DebertaEmbeddings } from './embeddings';

/** Added to masked attention scores; exp() of it underflows to exactly 0 as finfo.min does upstream. */
const MASKED_SCORE = -1e30;

export class DebertaV2Encoder extends Module {
  readonly layers: DebertaLayer[] = [];
  readonly relEmbeddings: Embedding | null;
  readonly relNorm: LayerNorm | null;
  /** Relative positions attend over [-span, span): position_buckets when bucketing, else max_relative_positions. */
  readonly span: number;

  constructor(readonly config: DebertaV2Config) {
    super();
    for (let i = 0; i < config.numHiddenLayers; i++) this.layers.push(this.addChild(`layer.${i}`, new DebertaLayer(config)));
    this.span = config.positionBuckets > 0 ? config.positionBuckets : config.maxRelativePositions;
    this.relEmbeddings = config.relativeAttention ? this.addChild('rel_embeddings', new Embedding(this.span * 2, config.hiddenSize)) : null;
    this.relNorm =
      config.relativeAttention && config.normRelEbd.includes('layer_norm')
        ? this.addChild('LayerNorm', new LayerNorm(config.hiddenSize, config.layerNormEps))
        : null;
  }

  /** Per-batch tensors shared by all layers; call inside the caller's tf.tidy. */
  buildContext(mask: tf.Tensor2D, training: boolean): AttentionContext {
    const [B, T] = mask.shape;
    // Scores are laid out head-major, [H, B, T, T] (see attention.ts).
    const keyBias = tf.sub(1, mask).mul(MASKED_SCORE).reshape([1, B, 1, T]);
    const queryMask = mask.reshape([1, B, T, 1]);
    let relEmbeddings: tf.Tensor2D | null = null;
    if (this.relEmbeddings) {
      // Normalised once per forward; each layer projects the rows its input length reaches.
      const rel = this.relEmbeddings.weight as tf.Tensor2D;
      relEmbeddings = this.relNorm ? (this.relNorm.apply(rel) as tf.Tensor2D) : rel;
    }
    return { batch: B, length: T, keyBias, queryMask, relEmbeddings, training };
  }

  apply(hidden: tf.Tensor3D, mask: tf.Tensor2D, training: boolean): tf.Tensor3D {
    return tf.tidy(() => {
      const ctx = this.buildContext(mask, training);
      let h = hidden;
      for (const layer of this.layers) h = layer.apply(h, ctx);
      return h;
    });
  }
}

export class DebertaV2Model extends Module {
  readonly embeddings: DebertaEmbeddings;
  readonly encoder: DebertaV2Encoder;

  constructor(readonly config: DebertaV2Config) {
    super();
    this.embeddings = this.addChild('embeddings', new DebertaEmbeddings(config));
    this.encoder = this.addChild('encoder', new DebertaV2Encoder(config));
  }

  /** inputIds [B, T] int32, attentionMask [B, T] (0/1) -> last hidden state [B, T, hidden]. */
  apply(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, training = false): tf.Tensor3D {
    return tf.tidy(() => {
      const mask = attentionMask.toFloat() as tf.Tensor2D;
      return this.encoder.apply(this.embeddings.apply(inputIds, mask, training), mask, training);
    });
  }
}
