/**
 * Seedable pseudo-random numbers for the training data pipeline.
 *
 * The generator is xoshiro128** (Blackman & Vigna): 128 bits of state, period 2^128 - 1, fast
 * with 32-bit integer arithmetic (`Math.imul`, `>>> 0`), and good enough statistically for
 * shuffling and sampling. Seeds are expanded into the four state words with splitmix32, so
 * nearby seeds (0, 1, 2, ...) give unrelated streams and the state is never all zero.
 *
 * `getState()` / `setState()` capture and restore the exact position in the stream, so a run
 * resumed from a checkpoint draws the same numbers it would have drawn without the interruption.
 * `deriveSeed()` hashes a base seed with a few integers (epoch, batch index, stream id) into a new
 * seed; the batch planner uses it to give every batch its own independent stream.
 */

/** The full generator state: four unsigned 32-bit words. */
export type RngState = [number, number, number, number];

/** One splitmix32 step: returns [output, next state]. Used only to expand seeds. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) >>> 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  return [z, next];
}

/** Murmur3 finalizer: a bijective 32-bit mix. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function checkSeed(seed: number): number {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  // Fold the full safe-integer range into 32 bits so that seeds above 2^32 still matter.
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 0x100000000) >>> 0;
  return (lo ^ Math.imul(hi, 0x27d4eb2d)) >>> 0;
}

/**
 * Combine a base seed with extra integers into a new 32-bit seed. Order matters:
 * deriveSeed(s, 1, 2) differs from deriveSeed(s, 2, 1).
 */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = fmix32(checkSeed(seed) ^ 0x5bd1e995);
  for (const p of parts) {
    h = fmix32((Math.imul(h, 0x01000193) ^ checkSeed(p)) >>> 0);
  }
  return h;
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  constructor(seed: number) {
    let x = checkSeed(seed);
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [out, next] = splitmix32(x);
      words.push(out);
      x = next;
    }
    // splitmix32 never returns four zeros in a row, but keep the guard explicit: an all-zero
    // state would make xoshiro output zeros forever.
    if (!words.some((w) => w !== 0)) words[0] = 1;
    this.s0 = words[0];
    this.s1 = words[1];
    this.s2 = words[2];
    this.s3 = words[3];
  }

  /** A generator positioned exactly at `state`. */
  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  getState(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  setState(state: RngState): void {
    if (!Array.isArray(state) || state.length !== 4 || !state.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff)) {
      throw new TypeError(`Rng state must be four unsigned 32-bit integers, got ${JSON.stringify(state)}`);
    }
    if (state.every((w) => w === 0)) throw new RangeError('Rng state must not be all zero');
    [this.s0, this.s1, this.s2, this.s3] = state;
  }

  /** Next unsigned 32-bit integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * Uniform integer in [lo, hi], both inclusive (like Python's `random.randint`). Uses rejection
   * sampling so that every value is exactly equally likely.
   */
  int(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi < lo) {
      throw new RangeError(`Rng.int: need integers lo <= hi, got ${lo}, ${hi}`);
    }
    const range = hi - lo + 1;
    if (range > 0x100000000) throw new RangeError(`Rng.int: range ${range} exceeds 2^32`);
    if (range === 0x100000000) return lo + this.nextUint32();
    // Largest multiple of `range` that fits in 2^32; values at or above it would bias the modulo.
    const limit = 0x100000000 - (0x100000000 % range);
    let u = this.nextUint32();
    while (u >= limit) u = this.nextUint32();
    return lo + (u % range);
  }

  /** In-place Fisher-Yates shuffle; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /**
   * `k` distinct elements drawn without replacement, in random order (like Python's
   * `random.sample`). `items` is not modified.
   */
  sample<T>(items: readonly T[], k: number): T[] {
    if (!Number.isInteger(k) || k < 0 || k > items.length) {
      throw new RangeError(`Rng.sample: k=${k} must be an integer in [0, ${items.length}]`);
    }
    const pool = items.slice();
    // Partial Fisher-Yates from the front: position i receives a uniform pick from the rest.
    for (let i = 0; i < k; i++) {
      const j = this.int(i, pool.length - 1);
      const tmp = pool[i];
      pool[i] = pool[j];
      pool[j] = tmp;
    }
    pool.length = k;
    return pool;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
