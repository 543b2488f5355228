/**
 * Entities from two ways of running the same texts (batched vs alone, windowed vs cut, a server
 * batch, a queue chunk, a worker): the same spans, texts, labels and order exactly, scores within
 * SCORE_ATOL. Scores are not compared bit for bit: a batch pads its rows to its longest text and
 * prompt, and the native BLAS path (kernels/native-blas.ts) blocks a product by its row count and
 * thread count, either of which moves float32 sums by a few ulps (seen: up to 1.6e-6).
 */
export const SCORE_ATOL = 1e-5;

type Nested = { score: number } | Nested[];

export function expectSameEntities(got: unknown, want: unknown, atol = SCORE_ATOL): void {
  const strip = (x: unknown): unknown => (Array.isArray(x) ? x.map(strip) : { ...(x as object), score: undefined });
  expect(strip(got)).toEqual(strip(want));
  const scores = (x: Nested): number[] => (Array.isArray(x) ? x.flatMap(scores) : [x.score]);
  const a = scores(got as Nested);
  const b = scores(want as Nested);
  a.forEach((s, i) => expect(Math.abs(s - b[i])).toBeLessThanOrEqual(atol));
}
