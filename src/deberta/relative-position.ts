/**
 * DeBERTa's relative positions: rel(i, j) = i - j, log-bucketed beyond position_buckets/2.
 * Computed on the host once per sequence length and shared by every layer.
 */

/**
 * transformers' make_log_bucket_position, evaluated in float32 as torch does
 * (log / ceil on float32 tensors), so bucket boundaries land where upstream's do.
 */
export function logBucketPosition(relativePos: number, bucketSize: number, maxPosition: number): number {
  const f = Math.fround;
  const mid = Math.floor(bucketSize / 2);
  const absPos = relativePos < mid && relativePos > -mid ? mid - 1 : Math.abs(relativePos);
  if (absPos <= mid) return relativePos;
  const num = f(Math.log(f(absPos / mid)));
  const den = f(Math.log(f((maxPosition - 1) / mid)));
  const logPos = f(Math.ceil(f(f(num / den) * (mid - 1)))) + mid;
  return Math.sign(relativePos) * logPos;
}

/** [q, k] matrix (row-major) of bucketed relative positions q_i - k_j. */
export function buildRelativePosition(querySize: number, keySize: number, bucketSize: number, maxPosition: number): Int32Array {
  const out = new Int32Array(querySize * keySize);
  const bucket = bucketSize > 0 && maxPosition > 0;
  for (let i = 0; i < querySize; i++) {
    for (let j = 0; j < keySize; j++) {
      const rel = i - j;
      out[i * keySize + j] = bucket ? logBucketPosition(rel, bucketSize, maxPosition) : rel;
    }
  }
  return out;
}

/**
 * Gather indices into the [2*span] relative-embedding axis for the two disentangled terms, both
 * in row-gather layout [row, col]:
 *   c2p[i][j] = clamp(rel(i, j) + span)   gathers query i's row of q.pos_key^T; result is score[i][j];
 *   p2c[j][i] = clamp(-rel(j, i) + span)  gathers key j's row of k.pos_query^T; the result is
 *                                           score^T, so it is transposed afterwards (as upstream).
 */
export function disentangledIndices(rel: Int32Array, size: number, span: number): { c2p: Int32Array; p2c: Int32Array } {
  const hi = 2 * span - 1;
  const clamp = (v: number) => (v < 0 ? 0 : v > hi ? hi : v);
  const c2p = new Int32Array(size * size);
  const p2c = new Int32Array(size * size);
  for (let k = 0; k < size * size; k++) {
    c2p[k] = clamp(rel[k] + span);
    p2c[k] = clamp(-rel[k] + span);
  }
  return { c2p, p2c };
}
