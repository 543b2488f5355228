/**
 * Unit tests for the building blocks, where a parity failure would otherwise be hard to place.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { buildRelativePosition, disentangledIndices, logBucketPosition } from '../src/deberta/relative-position';
import { BiLSTM } from '../src/layers/lstm';
import { LayerNorm } from '../src/layers/layer-norm';
import { dropout, gelu, withDropoutSeeds } from '../src/layers/activations';
import { Linear } from '../src/layers/linear';
import { matMul2d } from '../src/layers/matmul';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('relative position log buckets (bucket_size 8, max_position 512: mid = 4)', () => {
  // By hand: bucket(r) = sign(r) * (ceil(ln(|r|/4) / ln(511/4) * 3) + 4) for |r| > 4, else r.
  // ln(511/4) = 4.85011. r=5: ln 1.25 = 0.22314 -> 0.138 -> 1 -> 5.  r=20: ln 5 = 1.60944 -> 0.9955 -> 1 -> 5.
  // r=21: ln 5.25 = 1.65823 -> 1.0257 -> 2 -> 6.  r=100: ln 25 = 3.21888 -> 1.991 -> 2 -> 6.
  // r=128: ln 32 = 3.46574 -> 2.1437 -> 3 -> 7.  r=511: ln 127.75 = 4.85007 -> 2.99997 -> 3 -> 7.
  const cases: [number, number][] = [
    [0, 0], [1, 1], [3, 3], [4, 4], [-4, -4], [5, 5], [20, 5], [21, 6], [-21, -6], [100, 6], [128, 7], [511, 7], [-511, -7],
  ];
  test.each(cases)('bucket(%i) = %i', (rel, expected) => {
    expect(logBucketPosition(rel, 8, 512)).toBe(expected);
  });

  test('buckets are odd-symmetric and monotone in |r|', () => {
    let prev = 0;
    for (let r = 0; r < 600; r++) {
      const b = logBucketPosition(r, 8, 512);
      expect(logBucketPosition(-r, 8, 512)).toBe(-b);
      expect(b).toBeGreaterThanOrEqual(prev);
      prev = b;
    }
  });

  test('without buckets the relative position is i - j, and the gather indices clamp into [0, 2*span)', () => {
    const rel = buildRelativePosition(3, 3, -1, 512);
    expect(Array.from(rel)).toEqual([0, -1, -2, 1, 0, -1, 2, 1, 0]);
    const { c2p, p2c } = disentangledIndices(buildRelativePosition(6, 6, 8, 512), 6, 2);
    for (const v of [...c2p, ...p2c]) expect(v >= 0 && v < 4).toBe(true);
    // c2p(i, j) = clamp(rel(i,j) + span): i=5, j=0 -> rel 5 -> 7 clamped to 3.
    expect(c2p[5 * 6 + 0]).toBe(3);
    expect(p2c[5 * 6 + 0]).toBe(0);
  });
});

/** A plain-JavaScript PyTorch LSTM direction over one unpadded sequence, in float64. */
function referenceLstm(x: number[][], wIh: number[][], wHh: number[][], bIh: number[], bHh: number[], reverse: boolean): number[][] {
  const H = wHh[0].length;
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  let h = new Array(H).fill(0);
  let c = new Array(H).fill(0);
  const out: number[][] = new Array(x.length);
  const order = x.map((_, t) => t);
  if (reverse) order.reverse();
  for (const t of order) {
    const g = wIh.map((row, r) => row.reduce((s, w, k) => s + w * x[t][k], 0) + bIh[r] + bHh[r] + wHh[r].reduce((s, w, k) => s + w * h[k], 0));
    const nc = c.map((cv, k) => sig(g[H + k]) * cv + sig(g[k]) * Math.tanh(g[2 * H + k]));
    h = nc.map((cv, k) => sig(g[3 * H + k]) * Math.tanh(cv));
    c = nc;
    out[t] = h;
  }
  return out;
}

describe('BiLSTM', () => {
  test('padded batches equal per-sequence PyTorch semantics, zero past each length', () => {
    const inSize = 3;
    const H = 2;
    const rnd = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.8);
    const lstm = new BiLSTM(inSize, H);
    const params: Record<string, number[]> = {};
    const weights = new Map();
    let seed = 1;
    for (const [name, p] of lstm.namedParameters()) {
      const shape = p.layout.storedShape;
      params[name] = rnd(shape.reduce((a, b) => a * b, 1), seed++);
      weights.set(name, { dtype: 'F32', shape, data: Float32Array.from(params[name]) });
    }
    lstm.loadWeights(weights);
    const lengths = [4, 2, 1];
    const L = 4;
    const xs = lengths.map((_, b) => Array.from({ length: L }, (_, t) => rnd(inSize, 100 + b * 10 + t)));
    const out = tf.tidy(() => lstm.apply(tf.tensor3d(xs), lengths).arraySync());
    const mat = (name: string, rows: number) => {
      const flat = params[name];
      const cols = flat.length / rows;
      return Array.from({ length: rows }, (_, r) => flat.slice(r * cols, (r + 1) * cols));
    };
    lengths.forEach((len, b) => {
      const seq = xs[b].slice(0, len);
      const fwd = referenceLstm(seq, mat('weight_ih_l0', 4 * H), mat('weight_hh_l0', 4 * H), params.bias_ih_l0, params.bias_hh_l0, false);
      const bwd = referenceLstm(seq, mat('weight_ih_l0_reverse', 4 * H), mat('weight_hh_l0_reverse', 4 * H), params.bias_ih_l0_reverse, params.bias_hh_l0_reverse, true);
      for (let t = 0; t < L; t++) {
        const expected = t < len ? [...fwd[t], ...bwd[t]] : new Array(2 * H).fill(0);
        out[b][t].forEach((v, k) => expect(Math.abs(v - expected[k])).toBeLessThan(1e-5));
      }
    });
    lstm.dispose();
  });
});

describe('small layers', () => {
  test('LayerNorm uses the configured epsilon (1e-7 for DeBERTa), biased variance', () => {
    const ln = new LayerNorm(2, 1e-7);
    ln.loadWeights(new Map([
      ['weight', { dtype: 'F32', shape: [2], data: Float32Array.of(1, 1) }],
      ['bias', { dtype: 'F32', shape: [2], data: Float32Array.of(0, 0) }],
    ]));
    // x = [0, 2e-3]: variance 1e-6; with eps 1e-7 the output is +-1/sqrt(1.1) = +-0.9535, with 1e-5 it would be +-0.3015.
    const y = tf.tidy(() => ln.apply(tf.tensor2d([[0, 2e-3]])).dataSync());
    expect(y[0]).toBeCloseTo(-1 / Math.sqrt(1.1), 4);
    expect(y[1]).toBeCloseTo(1 / Math.sqrt(1.1), 4);
    ln.dispose();
  });

  test('GELU is the exact erf form, not the tanh approximation', () => {
    // gelu(1) = 0.5 * (1 + erf(1/sqrt 2)) = 0.841344746; the tanh form gives 0.841191990.
    const y = tf.tidy(() => gelu(tf.tensor1d([1, -1, 0])).dataSync());
    expect(y[0]).toBeCloseTo(0.841344746, 6);
    expect(y[1]).toBeCloseTo(-0.158655254, 6);
    expect(y[2]).toBe(0);
  });

  test('Linear binds a PyTorch [out, in] weight and round-trips it on export', () => {
    const lin = new Linear(3, 2);
    const w = Float32Array.of(1, 2, 3, 4, 5, 6);
    lin.loadWeights(new Map([
      ['weight', { dtype: 'F32', shape: [2, 3], data: w }],
      ['bias', { dtype: 'F32', shape: [2], data: Float32Array.of(0.5, -0.5) }],
    ]));
    const y = tf.tidy(() => lin.apply(tf.tensor2d([[1, 0, -1]])).dataSync());
    expect(Array.from(y)).toEqual([1 - 3 + 0.5, 4 - 6 - 0.5]);
    expect(Array.from(lin.exportWeights().get('weight')!.data)).toEqual(Array.from(w));
    const bad = () => lin.loadWeights(new Map([['weight', { dtype: 'F32', shape: [3, 2], data: w }]]), 'bad.safetensors');
    expect(bad).toThrow(/^bad\.safetensors: cannot load weights/);
    expect(bad).toThrow(/shape mismatch for 'weight': checkpoint has \[3,2\], model expects \[2,3\]/);
    expect(bad).toThrow(/missing key 'bias' \(expected shape \[2\]\)/);
    lin.dispose();
  });

  test('matMul2d gradients equal the analytic ones', () => {
    const a = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
    const b = tf.tensor2d([[1, -1, 2], [0, 3, 1]]);
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => matMul2d(x as tf.Tensor2D, y as tf.Tensor2D).sum())([a, b]);
    // d/dA sum(AB) = 1 B^T (row sums of B), d/dB = A^T 1 (column sums of A).
    expect(ga.arraySync()).toEqual([[2, 4], [2, 4], [2, 4]]);
    expect(gb.arraySync()).toEqual([[9, 9, 9], [12, 12, 12]]);
    tf.dispose([a, b, ga, gb]);
  });
});

describe('dropout', () => {
  const mask = (seeds: number[]) =>
    tf.tidy(() => {
      let i = 0;
      return withDropoutSeeds(() => seeds[i++], () => [dropout(tf.ones([64]), 0.5, true), dropout(tf.ones([64]), 0.5, true)].map((t) => Array.from(t.dataSync())));
    });

  test('inverted dropout: kept values scaled by 1/(1-p), inference untouched', () => {
    const [a] = mask([1, 2]);
    expect(new Set(a)).toEqual(new Set([0, 2]));
    const x = tf.ones([8]);
    expect(dropout(x, 0.5, false)).toBe(x);
    x.dispose();
  });

  test('withDropoutSeeds: the same seeds give the same masks, other seeds other masks; Math.random untouched', () => {
    const random = Math.random;
    const [a1, a2] = mask([0.25, 0.75]);
    const [b1, b2] = mask([0.25, 0.75]);
    expect(Math.random).toBe(random);
    expect(b1).toEqual(a1);
    expect(b2).toEqual(a2);
    expect(a2).not.toEqual(a1);
    const [c1] = mask([0.5, 0.75]);
    expect(c1).not.toEqual(a1);
  });
});
