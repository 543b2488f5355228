/**
 * Builds the model input for a batch of (words, labels) the way upstream GLiNER's processor does:
 *
 *   words of row b  = [<<ENT>>, label_1, <<ENT>>, label_2, ..., <<SEP>>] + text words
 *   input_ids       = [CLS] + sub-tokens of each word (a label is one "word", spaces and all) + [SEP]
 *
 * then right-pads with [PAD]. Each text word is represented by its first sub-token.
 */
import { CollatedBatch } from './model-input';
import { ReservedTokenSource, checkLabelTokens, reservedTokens } from './label-tokens';

/** What batch building needs from a tokenizer. */
export interface WordTokenizer {
  /** Sub-token ids of one pre-split word (SentencePiece adds the word's own ▁ prefix). */
  encodeWord(word: string): number[];
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  readonly unkId: number;
}

/**
 * Sub-tokens kept per word. Only a word's first sub-token represents it, so a pathological
 * "word" (a 10,000-character hash, a base64 blob) is cut to this many sub-tokens instead of
 * blowing the encoder window up quadratically; real words are far below it.
 */
export const MAX_TOKENS_PER_WORD = 64;

export interface PromptTokens {
  entToken: string;
  sepToken: string;
}

export interface BatchRow {
  /** Text words, already truncated to the model's window. */
  words: readonly string[];
  /** Entity types for this row, de-duplicated, in order. */
  labels: readonly string[];
}

/** Labels de-duplicated in first-seen order (upstream: dict.fromkeys). */
export function uniqueLabels(labels: readonly string[]): string[] {
  return [...new Set(labels)];
}

export function buildBatch(rows: readonly BatchRow[], tokenizer: WordTokenizer, prompt: PromptTokens): CollatedBatch {
  const encoded: { ids: number[]; wordsMask: number[] }[] = [];
  // Callers check labels where they can name the source (labels[i], FILE:LINE); this is the backstop.
  const reserved = reservedTokens(tokenizer as WordTokenizer & ReservedTokenSource, prompt);
  rows.forEach((row, b) => checkLabelTokens(row.labels, reserved, (i) => `batch row ${b}, label ${i}`));
  for (const row of rows) {
    const ids: number[] = [tokenizer.clsId];
    const wordsMask: number[] = [0];
    const push = (word: string, wordNumber: number) => {
      let pieces = tokenizer.encodeWord(word);
      // A word that normalises to nothing (e.g. a lone zero-width joiner) would shift every later
      // word's index upstream; we give it [UNK] instead so word k stays word k.
      if (pieces.length === 0) pieces = [tokenizer.unkId];
      // Labels are not cut: a long label description is checked against the window instead.
      if (wordNumber > 0 && pieces.length > MAX_TOKENS_PER_WORD) pieces = pieces.slice(0, MAX_TOKENS_PER_WORD);
      pieces.forEach((id, i) => {
        ids.push(id);
        wordsMask.push(i === 0 ? wordNumber : 0);
      });
    };
    for (const label of row.labels) {
      push(prompt.entToken, 0);
      push(label, 0);
    }
    push(prompt.sepToken, 0);
    row.words.forEach((w, k) => push(w, k + 1));
    ids.push(tokenizer.sepId);
    wordsMask.push(0);
    encoded.push({ ids, wordsMask });
  }
  const B = rows.length;
  const T = Math.max(...encoded.map((e) => e.ids.length));
  const inputIds = new Int32Array(B * T).fill(tokenizer.padId);
  const attentionMask = new Int32Array(B * T);
  const wordsMask = new Int32Array(B * T);
  encoded.forEach((e, b) => {
    inputIds.set(e.ids, b * T);
    attentionMask.fill(1, b * T, b * T + e.ids.length);
    wordsMask.set(e.wordsMask, b * T);
  });
  return { batchSize: B, seqLength: T, inputIds, attentionMask, wordsMask, textLengths: rows.map((r) => r.words.length) };
}
