/**
 * From upstream's collated arrays (input_ids, attention_mask, words_mask, text_lengths) to the
 * index maps our model consumes. words_mask[b, t] = k > 0 marks the first sub-token of text
 * word k (1-based); class prompts are the positions holding the class token (<<ENT>>), or the
 * token after it when the config says not to embed the <<ENT>> token itself.
 */
import { ModelInput } from '../model';

export interface CollatedBatch {
  batchSize: number;
  seqLength: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  wordsMask: Int32Array;
  textLengths: number[];
}

export function modelInputFromCollated(batch: CollatedBatch, classTokenId: number, embedEntToken = true): ModelInput {
  const { batchSize: B, seqLength: T, inputIds, wordsMask, textLengths } = batch;
  const L = Math.max(0, ...textLengths);
  const wordTokenIndex = new Int32Array(B * L).fill(-1);
  const classPositions: number[][] = [];
  for (let b = 0; b < B; b++) {
    const classes: number[] = [];
    // Class tokens count only in the prompt, before the first text word: a training text whose
    // word is literally "<<ENT>>" must not become one more class.
    let inPrompt = true;
    for (let t = 0; t < T; t++) {
      const k = b * T + t;
      const w = wordsMask[k];
      if (w > 0) inPrompt = false;
      if (w > 0 && w <= L) wordTokenIndex[b * L + w - 1] = k;
      if (inPrompt && inputIds[k] === classTokenId) classes.push(embedEntToken ? k : k + 1);
    }
    classPositions.push(classes);
  }
  const C = Math.max(0, ...classPositions.map((c) => c.length));
  const classTokenIndex = new Int32Array(B * C).fill(-1);
  classPositions.forEach((c, b) => c.forEach((k, i) => (classTokenIndex[b * C + i] = k)));
  return {
    batchSize: B,
    seqLength: T,
    inputIds,
    attentionMask: batch.attentionMask,
    numWords: L,
    textLengths: [...textLengths],
    wordTokenIndex,
    numClasses: C,
    classTokenIndex,
  };
}
