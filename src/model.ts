/**
 * The GLiNER uni-encoder network (upstream `UniEncoderSpanModel` / `UniEncoderTokenModel`),
 * parameter names as in its state_dict:
 *
 *   token_rep_layer.bert_layer.model.*   text encoder over "[CLS] <<ENT>> t1 ... <<SEP>> w1 ... [SEP]"
 *   token_rep_layer.projection.*         encoder width -> GLiNER width (when they differ)
 *   rnn.lstm.*                           BiLSTM over the words (first sub-token of each)
 *   (head keys)                          span_rep_layer.* + prompt_rep_layer.* (span models) or
 *                                        scorer.* (token models), see heads.ts
 *
 * Which encoder and head a config selects is decided in architecture.ts. The model takes an
 * already-built batch (ids and index maps, see processing/batch.ts) and holds no I/O.
 */
import * as tf from '@tensorflow/tfjs';
import { GlinerConfig } from './config';
import { Module, ParamShape, declaredShapes } from './layers/module';
import { Linear } from './layers/linear';
import { BiLSTM } from './layers/lstm';
import { ENCODER_TYPES, SPAN_MODES, TextEncoder } from './architecture';
import { GlinerHead, OutputKind } from './heads';

export { spanIndices } from './heads';

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
  /** Before the sigmoid; span models [B, L, max_width, C], token models [B, L, C, 3] (see heads.ts). */
  logits: tf.Tensor4D;
}

export class GlinerModel extends Module {
  readonly encoder: TextEncoder;
  readonly projection: Linear | null;
  readonly rnn: BiLSTM | null;
  readonly head: GlinerHead;

  constructor(readonly config: GlinerConfig) {
    super();
    const enc = config.encoder;
    const D = config.hiddenSize;
    this.encoder = this.addChild('token_rep_layer.bert_layer.model', ENCODER_TYPES[config.encoderType].build(enc));
    this.projection = enc.hiddenSize !== D ? this.addChild('token_rep_layer.projection', new Linear(enc.hiddenSize, D)) : null;
    if (config.numRnnLayers > 1) throw new Error(`num_rnn_layers=${config.numRnnLayers} is not supported (0 or 1)`);
    if (D % 2 !== 0) throw new Error(`hidden_size ${D} must be even for the bidirectional LSTM`);
    this.rnn = config.numRnnLayers === 1 ? this.addChild('rnn.lstm', new BiLSTM(D, D / 2)) : null;
    this.head = this.addChild('', SPAN_MODES[config.spanMode].build(config));
  }

  /** The logits layout: 'span' or 'token'. */
  get output(): OutputKind {
    return this.head.output;
  }

  /** The text encoder output [B, T, encoder hidden] (exposed for parity tests and feature extraction). */
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
      return this.head.apply(words3, prompts.reshape([B, C, -1]) as tf.Tensor3D, input.textLengths, training);
    });
    return { logits };
  }
}

/** Checkpoint names and stored shapes of every parameter a config's model has, without allocating it. */
export function glinerParameterShapes(config: GlinerConfig): ParamShape[] {
  return declaredShapes(() => new GlinerModel(config));
}

function padMask(index: Int32Array): tf.Tensor2D {
  return tf.tensor2d(index.map((i) => (i < 0 ? 0 : 1)), [index.length, 1], 'float32');
}
