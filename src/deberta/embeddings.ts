/** DeBERTa input embeddings: word (+ absolute position / token type where configured) -> LayerNorm -> zero padding. */
import * as tf from '@tensorflow/tfjs';
import { Module } from '../layers/module';
import { Embedding } from '../layers/embedding';
import { LayerNorm } from '../layers/layer-norm';
import { Linear } from '../layers/linear';
import { dropout } from '../layers/activations';
import { DebertaV2Config } from './config';

export class DebertaEmbeddings extends Module {
  readonly wordEmbeddings: Embedding;
  readonly positionEmbeddings: Embedding | null;
  readonly tokenTypeEmbeddings: Embedding | null;
  readonly embedProj: Linear | null;
  readonly norm: LayerNorm;

  constructor(readonly config: DebertaV2Config) {
    super();
    this.wordEmbeddings = this.addChild('word_embeddings', new Embedding(config.vocabSize, config.embeddingSize));
    this.positionEmbeddings = config.positionBiasedInput
      ? this.addChild('position_embeddings', new Embedding(config.maxPositionEmbeddings, config.embeddingSize))
      : null;
    this.tokenTypeEmbeddings =
      config.typeVocabSize > 0 ? this.addChild('token_type_embeddings', new Embedding(config.typeVocabSize, config.embeddingSize)) : null;
    this.embedProj =
      config.embeddingSize !== config.hiddenSize
        ? this.addChild('embed_proj', new Linear(config.embeddingSize, config.hiddenSize, false))
        : null;
    this.norm = this.addChild('LayerNorm', new LayerNorm(config.hiddenSize, config.layerNormEps));
  }

  /** inputIds [B, T] int32, mask [B, T] float (1 = token, 0 = padding) -> [B, T, hidden]. */
  apply(inputIds: tf.Tensor2D, mask: tf.Tensor2D, training: boolean): tf.Tensor3D {
    return tf.tidy(() => {
      const [, T] = inputIds.shape;
      let x = this.wordEmbeddings.apply(inputIds);
      if (this.positionEmbeddings) {
        x = x.add(this.positionEmbeddings.apply(tf.range(0, T, 1, 'int32')).expandDims(0));
      }
      if (this.tokenTypeEmbeddings) {
        // GLiNER never passes token types: all zeros.
        x = x.add(this.tokenTypeEmbeddings.apply(tf.zeros([1, T], 'int32')));
      }
      if (this.embedProj) x = this.embedProj.apply(x);
      x = this.norm.apply(x).mul(mask.expandDims(2));
      return dropout(x, this.config.hiddenDropoutProb, training) as tf.Tensor3D;
    });
  }
}
