/**
 * Long texts and long label lists, without silent truncation.
 *
 * The model sees at most `maxWords` words (config max_len) and the encoder at most `maxTokens`
 * tokens (max_position_embeddings, 512) including the label prompt and [CLS]/[SEP]. Upstream
 * cuts the rest off; we instead
 *   - split the labels into consecutive groups whose prompt takes at most half the token budget,
 *   - split the words into overlapping windows that fit what the group's prompt leaves,
 * and the caller decodes every (window, group) and merges the candidates in text coordinates.
 *
 * Windows overlap by `overlap` words (at least max_width - 1, so an entity that straddles a
 * boundary lies whole inside some window, with context on both sides for most of them).
 */

export interface Range {
  /** First index (inclusive). */
  start: number;
  /** Last index (exclusive). */
  end: number;
}

/** Tokens a prompt takes: [CLS] + per label (<<ENT>> + its tokens) + <<SEP>> + [SEP]. */
export function promptTokenCount(labelTokenCounts: readonly number[]): number {
  return labelTokenCounts.reduce((n, c) => n + 1 + c, 0) + 3;
}

/**
 * Consecutive label groups whose prompt fits `budget` tokens. A single label larger than the
 * budget gets a group of its own (its prompt then exceeds the budget; the caller decides).
 */
export function planLabelGroups(labelTokenCounts: readonly number[], budget: number): Range[] {
  const groups: Range[] = [];
  let start = 0;
  let used = 3;
  for (let i = 0; i < labelTokenCounts.length; i++) {
    const cost = 1 + labelTokenCounts[i];
    if (i > start && used + cost > budget) {
      groups.push({ start, end: i });
      start = i;
      used = 3;
    }
    used += cost;
  }
  if (labelTokenCounts.length > 0) groups.push({ start, end: labelTokenCounts.length });
  return groups;
}

/**
 * Overlapping windows over words with the given token counts: each holds at most `maxWords`
 * words and `tokenBudget` tokens (a single word larger than the budget gets a window alone),
 * and consecutive windows share `overlap` words (fewer when a window is shorter than that).
 */
export function planWindows(wordTokenCounts: readonly number[], maxWords: number, tokenBudget: number, overlap: number): Range[] {
  const n = wordTokenCounts.length;
  if (n === 0) return [];
  if (!Number.isInteger(maxWords) || maxWords < 1) throw new RangeError(`maxWords must be a positive integer, got ${maxWords}`);
  if (!Number.isInteger(overlap) || overlap < 0) throw new RangeError(`overlap must be a non-negative integer, got ${overlap}`);
  const windows: Range[] = [];
  let start = 0;
  for (;;) {
    let end = start;
    let tokens = 0;
    while (end < n && end - start < maxWords && (end === start || tokens + wordTokenCounts[end] <= tokenBudget)) {
      tokens += wordTokenCounts[end];
      end++;
    }
    windows.push({ start, end });
    if (end >= n) return windows;
    // Step back by the overlap, but always make progress.
    start = Math.max(start + 1, end - overlap);
  }
}
