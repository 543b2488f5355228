/**
 * The GLiNER uni-encoder span network (upstream `UniEncoderSpanModel`), parameter names as in
 * its state_dict:
 *
 *   token_rep_layer.bert_layer.model.*   DeBERTa-v3 encoder over "[CLS] <<ENT>> t1 ... <<SEP>> w1 ... [SEP]"
 *   token_rep_layer.projection.*         encoder width -> GLiNER width (when they differ)
 *   rnn.lstm.*                           BiLSTM over the words (first sub-token of each)
 *   span_rep_layer.span_rep_layer.*      markerV0 span representations [B, L, max_width, D]
 *   prompt_rep_layer.*                   FFN over the <<ENT>> embeddings [B, C, D]
 *
 *   logits[b, s, w, c] = span(b, s, s+w) . prompt(b, c)
 *
 * The model takes an already-built batch (ids and index maps, see processing/batch.ts) and
 * holds no I/O.
 */
import * as tf from '@tensorflow/tfjs';
import { GlinerConfig } from './config';
import { Module } from './layers/module';
import { Linear } from './layers/linear';
import { BiLSTM } from './layers/lstm';
import { ProjectionFFN } from './layers/ffn';
import { DebertaV2Model } from './deberta/encoder';
import { SpanMarkerV0 } from './span-rep';

/** A collated batch, all host arrays (row-major). */
export interface ModelInput {
  batchSize: number;
  /** Tokens per row after padding (T). */
  seqLength: number;
  inputIds: Int32Array; // [B*T]
  attentionMask: Int32Array; // [B*T]
  /** Words per row of the batch: the longest text (L). */
  numWords: number;
  textLengths: number[]; // [B]
  /** Flat index (b*T + t) of the first sub-token of word w in row b, or -1 for padding. [B*L] */
  wordTokenIndex: Int32Array;
  /** Classes per row of the batch, padded to the largest (C). */
  numClasses: number;
  /** Flat index (b*T + t) of the prompt token for class c of row b, or -1 for padding. [B*C] */
  classTokenIndex: Int32Array;
}

export interface ModelOutput {
  /** [B, L, max_width, C] span scores before the sigmoid. */
  logits: tf.Tensor4D;
}

export class GlinerModel extends Module {
  readonly encoder: DebertaV2Model;
  readonly projection: Linear | null;
  readonly rnn: BiLSTM | null;
  readonly spanRep: SpanMarkerV0;
  readonly promptRep: ProjectionFFN;

  constructor(readonly config: GlinerConfig) {
    super();
    const enc = config.encoder;
    const D = config.hiddenSize;
    this.encoder = this.addChild('token_rep_layer.bert_layer.model', new DebertaV2Model(enc));
    this.projection = enc.hiddenSize !== D ? this.addChild('token_rep_layer.projection', new Linear(enc.hiddenSize, D)) : null;
    if (config.numRnnLayers > 1) throw new Error(`num_rnn_layers=${config.numRnnLayers} is not supported (0 or 1)`);
    if (D % 2 !== 0) throw new Error(`hidden_size ${D} must be even for the bidirectional LSTM`);
    this.rnn = config.numRnnLayers === 1 ? this.addChild('rnn.lstm', new BiLSTM(D, D / 2)) : null;
    this.spanRep = this.addChild('span_rep_layer.span_rep_layer', new SpanMarkerV0(D, config.maxWidth, config.dropout));
    this.promptRep = this.addChild('prompt_rep_layer', new ProjectionFFN(D, D, config.dropout));
  }

  /** The DeBERTa output [B, T, encoder hidden] (exposed for parity tests and feature extraction). */
  encode(input: ModelInput, training = false): tf.Tensor3D {
    return tf.tidy(() => {
      const { batchSize: B, seqLength: T } = input;
      const ids = tf.tensor2d(input.inputIds, [B, T], 'int32');
      const mask = tf.tensor2d(input.attentionMask, [B, T], 'int32');
      return this.encoder.apply(ids, mask, training);
    });
  }

  forward(input: ModelInput, training = false): ModelOutput {
    const logits = tf.tidy(() => {
      const { batchSize: B, seqLength: T, numWords: L, numClasses: C } = input;
      const W = this.config.maxWidth;
      const hidden = this.encode(input, training);
      const width = hidden.shape[2];
      // A zero row at index B*T stands in for padding (upstream scatters into zeros).
      const rows = tf.concat([hidden.reshape([B * T, width]), tf.zeros([1, width])], 0);
      const padTo = (idx: Int32Array) => tf.tensor1d(idx.map((i) => (i < 0 ? B * T : i)), 'int32');

      // The projection is per token, so applying it after the gathers is the same and cheaper.
      let words = tf.gather(rows, padTo(input.wordTokenIndex));
      let prompts = tf.gather(rows, padTo(input.classTokenIndex));
      if (this.projection) {
        words = this.projection.apply(words);
        prompts = this.projection.apply(prompts);
        // Padding must stay exactly zero, as upstream's zero-initialised buffers are filled after projection.
        words = words.mul(padMask(input.wordTokenIndex));
        prompts = prompts.mul(padMask(input.classTokenIndex));
      }
      let words3 = words.reshape([B, L, -1]) as tf.Tensor3D;
      if (this.rnn) words3 = this.rnn.apply(words3, input.textLengths);

      const { start, end } = spanIndices(B, L, W, input.textLengths);
      const spans = this.spanRep.apply(words3, start, end, training); // [B, L, W, D]
      const promptEmb = this.promptRep.apply(prompts.reshape([B, C, -1]), training); // [B, C, D]
      const D = this.config.hiddenSize;
      const scores = tf.matMul(spans.reshape([B, L * W, D]), promptEmb, false, true); // [B, L*W, C]
      return scores.reshape([B, L, W, C]) as tf.Tensor4D;
    });
    return { logits };
  }
}

function padMask(index: Int32Array): tf.Tensor2D {
  return tf.tensor2d(index.map((i) => (i < 0 ? 0 : 1)), [index.length, 1], 'float32');
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
