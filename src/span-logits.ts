/**
 * One inference forward pass over rows of (words, labels), with the span logits brought to the
 * host: the step shared by `GLiNER.predictEntities` (texts cut into windows and label groups) and
 * evaluation (pre-split words). Decoding stays with the callers, which read each row's slice.
 */
import { GlinerConfig } from './config';
import { GlinerModel } from './model';
import { BatchRow, WordTokenizer, buildBatch } from './processing/batch';
import { modelInputFromCollated } from './processing/model-input';
import { SpanDims } from './decoding';

export interface SpanLogits {
  /** The shape of one row: L word positions, W widths, C classes. */
  dims: SpanDims;
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
  const [, L, W, C] = logits.shape;
  const size = L * W * C;
  return { dims: { length: L, maxWidth: W, numClasses: C }, row: (b) => data.subarray(b * size, (b + 1) * size) };
}
