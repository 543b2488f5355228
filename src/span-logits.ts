/**
 * One inference forward pass over rows of (words, labels), with the logits (span or token layout,
 * see heads.ts) brought to the host: the step shared by `GLiNER.predictEntities` (texts cut into windows and label groups) and
 * evaluation (pre-split words). Decoding stays with the callers, which read each row's slice.
 */
import { GlinerConfig } from './config';
import { GlinerModel } from './model';
import { BatchRow, WordTokenizer, buildBatch } from './processing/batch';
import { modelInputFromCollated } from './processing/model-input';
import { OutputKind } from './heads';
import { DECODERS, RowDims } from './decoders';

export interface SpanLogits {
  /** 'span' rows are [L, W, C], 'token' rows [L, C, 3]. */
  output: OutputKind;
  /** The shape of one row: L word positions, W widths (the model's max_width), C classes. */
  dims: RowDims;
  /** The logits of row `b`. */
  row(b: number): Float32Array;
}

export interface SpanLogitsTarget {
  config: GlinerConfig;
  model: GlinerModel;
  tokenizer: WordTokenizer;
}

export async function spanLogits(target: SpanLogitsTarget, classTokenId: number, rows: readonly BatchRow[]): Promise<SpanLogits> {
  const { config } = target;
  const collated = buildBatch(rows, target.tokenizer, { entToken: config.entToken, sepToken: config.sepToken });
  const input = modelInputFromCollated(collated, classTokenId, config.embedEntToken);
  const { logits } = target.model.forward(input, false);
  let data: Float32Array;
  try {
    data = (await logits.data()) as Float32Array;
  } finally {
    logits.dispose();
  }
  const output = target.model.output;
  const [, L, second, third] = logits.shape;
  const dims: RowDims = output === 'span' ? { length: L, maxWidth: second, numClasses: third } : { length: L, maxWidth: config.maxWidth, numClasses: second };
  const size = DECODERS[output].rowSize(dims);
  return { output, dims, row: (b) => data.subarray(b * size, (b + 1) * size) };
}
