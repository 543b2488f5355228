/**
 * GLiNER heads: what turns word vectors [B, L, D] and prompt (label) vectors [B, C, D] into
 * logits. Each head owns the top-level checkpoint keys it saves (it is mounted at the model's
 * root, see Module.addChild('')):
 *
 *   SpanHead   span_rep_layer.span_rep_layer.*, prompt_rep_layer.*   logits [B, L, max_width, C]
 *   TokenHead  scorer.*                                              logits [B, L, C, 3]
 *
 * The registry (architecture.ts) says which span mode builds which head.
 */
import * as tf from '@tensorflow/tfjs';
import { Module } from './layers/module';
import { ProjectionFFN } from './layers/ffn';
import { SpanRepresentation } from './span-rep';
import { TokenScorer } from './token-scorer';

/**
 * The layout of a head's logits, which decides decoding and the loss:
 *  - 'span':  [B, L, max_width, C], logits[b, s, w, c] scores words s..s+w as class c;
 *  - 'token': [B, L, C, 3], logits[b, w, c] = (start, end, inside) of word w for class c.
 */
export type OutputKind = 'span' | 'token';

export interface GlinerHead extends Module {
  readonly output: OutputKind;
  /**
   * words [B, L, D] (zero past each text's length), prompts [B, C, D] (zero for padded classes),
   * textLengths [B] -> logits in the head's `output` layout.
   */
  apply(words: tf.Tensor3D, prompts: tf.Tensor3D, textLengths: readonly number[], training: boolean): tf.Tensor4D;
}

/** Span models: span representations scored against prompt_rep_layer(prompts). */
export class SpanHead extends Module implements GlinerHead {
  readonly output = 'span';
  readonly spanRep: SpanRepresentation;
  readonly promptRep: ProjectionFFN;

  constructor(spanRep: SpanRepresentation, hiddenSize: number, dropout: number) {
    super();
    this.spanRep = this.addChild('span_rep_layer.span_rep_layer', spanRep);
    this.promptRep = this.addChild('prompt_rep_layer', new ProjectionFFN(hiddenSize, hiddenSize, dropout));
  }

  apply(words: tf.Tensor3D, prompts: tf.Tensor3D, textLengths: readonly number[], training: boolean): tf.Tensor4D {
    return tf.tidy(() => {
      const [B, L, D] = words.shape;
      const C = prompts.shape[1];
      const W = this.spanRep.maxWidth;
      const { start, end } = spanIndices(B, L, W, textLengths);
      const spans = this.spanRep.apply(words, start, end, training); // [B, L, W, D]
      const promptEmb = this.promptRep.apply(prompts, training); // [B, C, D]
      // logits = einsum("BLKD,BCD->BLKC")
      return tf.matMul(spans.reshape([B, L * W, D]), promptEmb, false, true).reshape([B, L, W, C]) as tf.Tensor4D;
    });
  }
}

/** Token-level models: start / end / inside per (word, class); no prompt MLP. */
export class TokenHead extends Module implements GlinerHead {
  readonly output = 'token';
  readonly scorer: TokenScorer;

  constructor(hiddenSize: number, dropout: number) {
    super();
    this.scorer = this.addChild('scorer', new TokenScorer(hiddenSize, dropout));
  }

  apply(words: tf.Tensor3D, prompts: tf.Tensor3D, _textLengths: readonly number[], training: boolean): tf.Tensor4D {
    return this.scorer.apply(words, prompts, training);
  }
}

/**
 * Word indices of every candidate span (s, s+w), flattened over [B, L, W] and offset by b*L.
 * Spans that run past the text are pointed at word 0, as upstream zeroes span_idx by span_mask.
 */
export function spanIndices(B: number, L: number, W: number, textLengths: readonly number[]): { start: tf.Tensor1D; end: tf.Tensor1D } {
  const start = new Int32Array(B * L * W);
  const end = new Int32Array(B * L * W);
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < L; s++) {
      for (let w = 0; w < W; w++) {
        const k = (b * L + s) * W + w;
        const valid = s + w < textLengths[b];
        start[k] = b * L + (valid ? s : 0);
        end[k] = b * L + (valid ? s + w : 0);
      }
    }
  }
  return { start: tf.tensor1d(start, 'int32'), end: tf.tensor1d(end, 'int32') };
}
