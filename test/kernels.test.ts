/**
 * The wasm kernels we replace or add (src/kernels) against tfjs's cpu backend: same values for
 * random shapes (batch 1 and batched, every transpose flag, broadcast batch dims, odd and empty
 * sizes), same gradients, no leaked tensors, and the threaded wasm build giving the same numbers.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { resetWasmMatMulStats, wasmMatMulStats } from '../src/kernels';
import { broadcastIndex } from '../src/kernels/batch-matmul';
import { nativeMatMulState, setNativeMatMul } from '../src/kernels/native-blas';
import { setEagerGradientRelease } from '../src/kernels/eager-backprop';
import { recurrence, recurrenceWithGrad } from '../src/layers/lstm';

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x / 2 ** 31 - 1;
  }
  return out;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Run `f` on the cpu backend over fresh tensors made from host arrays; return host results. */
async function onCpu<T>(f: () => T): Promise<T> {
  await tf.setBackend('cpu');
  try {
    return f();
  } finally {
    await tf.setBackend('wasm');
  }
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rtol = 1e-5, atol = 1e-5): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < got.length; i++) {
    const excess = Math.abs(got[i] - want[i]) - (atol + rtol * Math.abs(want[i]));
    if (excess > worst) {
      worst = excess;
      at = i;
    }
  }
  if (at >= 0) throw new Error(`element ${at}: got ${got[at]}, want ${want[at]}`);
}

beforeAll(async () => {
  await initBackend('wasm');
});

// The products run on XNNPACK, and again on the native BLAS addon where it is built
// (.ci/run builds it and sets GLINER_TF_REQUIRE_NATIVE=1, so CI cannot skip it silently).
const matmulPaths: ('xnnpack' | 'native')[] = nativeMatMulState().available ? ['xnnpack', 'native'] : ['xnnpack'];

test('the native matrix path is built where it is required', () => {
  const state = nativeMatMulState();
  if (process.env.GLINER_TF_REQUIRE_NATIVE === '1') expect(state).toMatchObject({ available: true });
  else if (!state.available) console.log(`native matrix path not tested: ${state.detail}`);
  expect(typeof state.detail).toBe('string');
});

for (const matmulPath of matmulPaths)
describe(`BatchMatMul on wasm (${matmulPath}) equals the cpu backend`, () => {
  beforeAll(() => setNativeMatMul(matmulPath === 'native'));
  afterAll(() => setNativeMatMul(true));

  // [a shape, b shape, transposeA, transposeB, expected path]
  type Case = [number[], number[], boolean, boolean, 'direct' | 'folded' | 'sliced' | 'other'];
  const cases: Case[] = [
    [[7, 5], [5, 3], false, false, 'direct'],
    [[5, 7], [5, 3], true, false, 'folded'],
    [[7, 5], [3, 5], false, true, 'folded'],
    [[5, 7], [3, 5], true, true, 'folded'],
    [[1, 1], [1, 1], false, false, 'direct'],
    [[1, 9, 4], [1, 4, 6], false, false, 'direct'],
    [[4, 9, 33], [4, 33, 17], false, false, 'sliced'],
    [[4, 33, 9], [4, 33, 17], true, false, 'sliced'],
    [[4, 9, 33], [4, 17, 33], false, true, 'sliced'],
    [[4, 33, 9], [4, 17, 33], true, true, 'sliced'],
    [[3, 2, 6, 5], [3, 2, 5, 4], false, false, 'sliced'],
    // b a single matrix: a's batch is folded into rows.
    [[2, 3, 6, 5], [5, 4], false, false, 'folded'],
    [[2, 3, 5, 6], [1, 4, 5], true, true, 'folded'],
    // a single matrix against a batched b, and two-sided broadcasting.
    [[6, 5], [3, 5, 4], false, false, 'sliced'],
    [[2, 1, 6, 5], [3, 5, 4], false, false, 'sliced'],
    [[2, 1, 5, 6], [1, 3, 4, 5], true, true, 'sliced'],
    // The attention shapes, small.
    [[6, 11, 8], [6, 11, 8], false, true, 'sliced'],
    [[2, 13, 8], [2, 8, 40], false, false, 'sliced'],
    // Empty products.
    [[0, 3], [3, 4], false, false, 'other'],
    [[2, 0], [0, 3], false, false, 'other'],
    [[3, 2, 0], [3, 0, 4], false, false, 'other'],
  ];

  test.each(cases)('a %j x b %j (transposeA %s, transposeB %s) via %s', async (sa, sb, ta, tb, route) => {
    const av = values(size(sa), size(sa) + 1);
    const bv = values(size(sb), size(sb) + 7);
    const before = tf.memory().numTensors;
    resetWasmMatMulStats();
    const a = tf.tensor(av, sa);
    const b = tf.tensor(bv, sb);
    const out = tf.matMul(a, b, ta, tb);
    const got = out.dataSync();
    const shape = out.shape;
    tf.dispose([a, b, out]);
    expect(tf.memory().numTensors).toBe(before);
    const stats = wasmMatMulStats();
    expect(stats[matmulPath === 'native' && route !== 'other' ? 'native' : route].calls).toBe(1);

    // tfjs's cpu (and wasm) kernels broadcast one-sided batches only (they take the larger batch
    // count), so the reference gets both operands broadcast to the full batch shape first.
    const batch = tf.broadcast_util.assertAndGetBroadcastShape(sa.slice(0, -2), sb.slice(0, -2));
    const want = await onCpu(() =>
      tf.tidy(() => {
        const full = (v: Float32Array, s: number[]) => tf.broadcastTo(tf.tensor(v, s), [...batch, ...s.slice(-2)]);
        const r = tf.matMul(full(av, sa), full(bv, sb), ta, tb);
        return { data: r.dataSync(), shape: r.shape };
      }),
    );
    expect(shape).toEqual(want.shape);
    expectClose(got, want.data);
  });

  test('mismatched inner dimensions are reported as tfjs does', () => {
    const a = tf.zeros([2, 3]);
    const b = tf.zeros([4, 2]);
    expect(() => tf.matMul(a, b)).toThrow(/inner shapes/);
    tf.dispose([a, b]);
  });

  test('gradients (which use transpose flags) equal the cpu backend', async () => {
    const sa = [3, 6, 5];
    const sb = [3, 5, 4];
    const av = values(size(sa), 3);
    const bv = values(size(sb), 4);
    const wv = values(3 * 6 * 4, 5);
    const grads = () =>
      tf.tidy(() => {
        const w = tf.tensor(wv, [3, 6, 4]);
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b).mul(w).sum())([tf.tensor(av, sa), tf.tensor(bv, sb)]);
        return g.map((t) => t.dataSync());
      });
    const before = tf.memory().numTensors;
    const got = grads();
    expect(tf.memory().numTensors).toBe(before);
    const want = await onCpu(grads);
    expectClose(got[0], want[0]);
    expectClose(got[1], want[1]);
  });

  test('broadcast index maps output slices onto operand slices (numpy rules)', () => {
    expect(Array.from(broadcastIndex([2, 1], [2, 3]))).toEqual([0, 0, 0, 1, 1, 1]);
    expect(Array.from(broadcastIndex([3], [2, 3]))).toEqual([0, 1, 2, 0, 1, 2]);
    expect(Array.from(broadcastIndex([], [2, 2]))).toEqual([0, 0, 0, 0]);
    expect(Array.from(broadcastIndex([2, 3], [2, 3]))).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('Slice, SplitV, Unpack and GatherV2 on wasm equal the cpu backend', () => {
  const x3 = values(4 * 5 * 6, 11);
  type Op = (x: tf.Tensor) => tf.Tensor | tf.Tensor[];
  const ops: [string, number[], Op][] = [
    ['slice inner box', [4, 5, 6], (x) => tf.slice(x, [1, 2, 3], [2, 2, 2])],
    ['slice rows (contiguous)', [4, 5, 6], (x) => tf.slice(x, [1, 0, 0], [2, -1, -1])],
    ['slice last axis', [4, 5, 6], (x) => tf.slice(x, [0, 0, 5], [4, 5, 1])],
    ['slice everything', [4, 5, 6], (x) => tf.slice(x, [0, 0, 0], [4, 5, 6])],
    ['slice empty', [4, 5, 6], (x) => tf.slice(x, [0, 0, 0], [4, 0, 6])],
    ['split axis 1 by sizes', [4, 5, 6], (x) => tf.split(x, [1, 3, 1], 1)],
    ['split axis 2 evenly', [4, 5, 6], (x) => tf.split(x, 3, 2)],
    ['unstack axis 0', [4, 5, 6], (x) => tf.unstack(x, 0)],
    ['unstack axis 1', [4, 5, 6], (x) => tf.unstack(x, 1)],
    ['unstack axis 2', [4, 5, 6], (x) => tf.unstack(x, 2)],
    ['gather rows', [4, 5, 6], (x) => tf.gather(x, tf.tensor1d([3, 0, 3, 1], 'int32'))],
    ['gather axis 1', [4, 5, 6], (x) => tf.gather(x, tf.tensor2d([4, 0, 2, 2], [2, 2], 'int32'), 1)],
    ['gather axis 2 (single elements)', [4, 5, 6], (x) => tf.gather(x, tf.tensor1d([5, 0, 1], 'int32'), 2)],
    ['gather flat', [4, 5, 6], (x) => tf.gather(x.reshape([-1]), tf.tensor1d([119, 0, 57, 57, 3], 'int32'))],
    ['gather with batchDims 1', [4, 5, 6], (x) => tf.gather(x, tf.tensor2d([0, 4, 1, 1, 3, 2, 4, 0], [4, 2], 'int32'), 1, 1)],
    ['gather int32', [4, 5, 6], (x) => tf.gather(x.mul(100).toInt(), tf.tensor1d([2, 1], 'int32'), 1)],
    ['gather bool', [4, 5, 6], (x) => tf.gather(x.greater(0), tf.tensor1d([2, 1], 'int32'), 0)],
  ];

  test.each(ops)('%s', async (_, shape, op) => {
    const run = () =>
      tf.tidy(() => {
        const r = op(tf.tensor(x3, shape));
        return (Array.isArray(r) ? r : [r]).map((t) => ({ shape: t.shape, dtype: t.dtype, data: Array.from(t.dataSync()) }));
      });
    const before = tf.memory().numTensors;
    const got = run();
    expect(tf.memory().numTensors).toBe(before);
    const want = await onCpu(run);
    expect(got).toEqual(want);
  });

  test('gather rejects out-of-range indices and leaks nothing', () => {
    const before = tf.memory().numTensors;
    const x = tf.zeros([3, 2]);
    const idx = tf.tensor1d([0, 3], 'int32');
    expect(() => tf.gather(x, idx)).toThrow(/not in \[0, 2\]/);
    tf.dispose([x, idx]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('gradients of stack/unstack/split/slice/gather equal the cpu backend', async () => {
    const run = () =>
      tf.tidy(() => {
        const g = tf.grad((x: tf.Tensor) => {
          const parts = tf.unstack(x, 1);
          const stacked = tf.stack(parts.map((p, i) => p.mul(i + 1)), 2);
          const [a, b] = tf.split(stacked, [2, 3], 2);
          const picked = tf.gather(a.reshape([-1]), tf.tensor1d([0, 7, 7, 15], 'int32'));
          return picked.sum().add(tf.slice(b, [1, 1, 0], [2, 3, 2]).square().sum());
        })(tf.tensor(x3, [4, 5, 6]));
        return Array.from(g.dataSync());
      });
    const got = run();
    const want = await onCpu(run);
    expectClose(got, want);
  });
});

describe('UnsortedSegmentSum (gather gradients) on wasm and cpu', () => {
  /** out[ids[r], k] += x[r, k], ids outside [0, n) dropped: the definition, in plain JavaScript. */
  function reference(x: ArrayLike<number>, ids: number[], n: number, inner: number): number[] {
    const out = new Array<number>(n * inner).fill(0);
    ids.forEach((id, r) => {
      if (id >= 0 && id < n) for (let k = 0; k < inner; k++) out[id * inner + k] += x[r * inner + k];
    });
    return out;
  }

  const ids = [3, 0, 3, 7, -1, 9, 0, 3]; // repeats, an unused segment (1, 2, 4...), out of range (-1, 9)
  for (const backend of ['wasm', 'cpu'] as const) {
    test(`${backend}: float32 [8, 2, 3] and int32 rows summed into 8 segments`, async () => {
      await tf.setBackend(backend);
      try {
        const before = tf.memory().numTensors;
        const xf = values(8 * 2 * 3, 4);
        const gotF = tf.tidy(() => tf.unsortedSegmentSum(tf.tensor3d(xf, [8, 2, 3]), tf.tensor1d(ids, 'int32'), 8));
        expect(gotF.shape).toEqual([8, 2, 3]);
        expectClose(gotF.dataSync(), reference(xf, ids, 8, 6), 1e-6, 1e-6);
        const xi = Array.from({ length: 8 }, (_, i) => i + 1);
        const gotI = tf.tidy(() => tf.unsortedSegmentSum(tf.tensor1d(xi, 'int32'), tf.tensor1d(ids, 'int32'), 8));
        expect(gotI.dtype).toBe('int32');
        expect(Array.from(gotI.dataSync())).toEqual(reference(xi, ids, 8, 1));
        // the gradient of an embedding lookup goes through it
        const init = tf.tensor2d(values(10 * 4, 5), [10, 4]);
        const table = tf.variable(init);
        const g = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.gather(t, tf.tensor1d([2, 2, 5], 'int32')).sum())(table));
        expect(Array.from(g.dataSync())).toEqual(reference(new Array(12).fill(1), [2, 2, 5], 10, 4));
        tf.dispose([gotF, gotI, g, table, init]);
        expect(tf.memory().numTensors).toBe(before);
      } finally {
        await tf.setBackend('wasm');
      }
    });
  }
});

describe('threaded wasm build', () => {
  test('reports its thread count and computes what the cpu backend does', async () => {
    const info = await initBackend('wasm');
    expect(info.threads).toBeGreaterThanOrEqual(1);
    const av = values(64 * 96, 1);
    const bv = values(96 * 80, 2);
    const got = tf.tidy(() => tf.matMul(tf.tensor(av, [64, 96]), tf.tensor(bv, [96, 80])).dataSync());
    const want = await onCpu(() => tf.tidy(() => tf.matMul(tf.tensor(av, [64, 96]), tf.tensor(bv, [96, 80])).dataSync()));
    expectClose(got, want);
  });

  test('a process using 2 wasm threads exits by itself when its work is done', () => {
    const script = [
      "const { initBackend } = require('./src/backend');",
      "const tf = require('@tensorflow/tfjs');",
      '(async () => {',
      "  const info = await initBackend('wasm', { threads: 2 });",
      '  const s = tf.matMul(tf.ones([300, 200]), tf.ones([200, 100])).sum().dataSync()[0];',
      "  console.log(JSON.stringify({ threads: info.threads, note: info.note ?? null, sum: s }));",
      '})();',
    ].join('\n');
    const res = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
      cwd: path.join(__dirname, '..'),
      encoding: 'utf8',
      // A liveness bound, not a speed check: a process held open by its workers never exits.
      timeout: 90_000,
    });
    expect(res.error).toBeUndefined();
    expect(res.status).toBe(0);
    const out = JSON.parse(res.stdout.trim().split('\n').pop()!);
    expect(out.sum).toBe(300 * 100 * 200);
    // The threaded build starts with 2 threads (or says why not).
    if (out.threads !== 2) expect(out.note).toMatch(/thread/);
  });
});

describe('eager release of intermediate gradients (kernels/eager-backprop.ts)', () => {
  const xv = values(4 * 6, 21);
  const wv = values(6 * 5, 22);
  /** A graph with reused tensors, multi-output ops, broadcasting and a custom gradient that hands dy through. */
  const passThrough = tf.customGrad(((a: tf.Tensor, save: tf.GradSaveFunc) => {
    save([a]);
    return { value: a.square(), gradFunc: (dy: tf.Tensor | tf.Tensor[]) => [dy as tf.Tensor] };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const f = (x: tf.Tensor, w: tf.Tensor) => {
    const h = tf.relu(tf.matMul(x, w)).add(tf.matMul(x, w).mul(0.5));
    const [p, q] = tf.split(h, [2, 3], 1);
    const r = tf.concat([q, p.mul(p)], 1).add(h);
    const s = passThrough(r) as tf.Tensor;
    return tf.sum(s.mul(r)).add(tf.unstack(x)[1].sum());
  };
  const grads = () =>
    tf.tidy(() => tf.grads(f)([tf.tensor(xv, [4, 6]), tf.tensor(wv, [6, 5])]).map((g) => Array.from(g.dataSync())));

  afterEach(() => setEagerGradientRelease(true));

  test('gradients are the same with and without it, and nothing leaks', () => {
    const before = tf.memory().numTensors;
    setEagerGradientRelease(false);
    const plain = grads();
    setEagerGradientRelease(true);
    const eager = grads();
    expect(eager).toEqual(plain);
    expect(tf.memory().numTensors).toBe(before);
  });

  test("a caller's dy survives, and second-order gradients still work", () => {
    const x = tf.tensor1d([1, 2, 3]);
    const dy = tf.tensor1d([1, 10, 100]);
    const g = tf.grad((t: tf.Tensor) => t.square().mul(2))(x, dy);
    expect(Array.from(g.dataSync())).toEqual([4, 80, 1200]);
    expect(Array.from(dy.dataSync())).toEqual([1, 10, 100]);
    // d2/dx2 of x^3 = 6x.
    const g2 = tf.grad((t: tf.Tensor) => tf.grad((u: tf.Tensor) => u.pow(3).sum())(t).sum())(x);
    expect(Array.from(g2.dataSync())).toEqual([6, 12, 18]);
    tf.dispose([x, dy, g, g2]);
  });
});

describe('BiLSTM recurrence: hand-written backward pass through time', () => {
  test('equals autodiff through the step-by-step recurrence', () => {
    const L = 5;
    const B = 3;
    const H = 4;
    const inputs = tf.tensor(values(L * 2 * B * 4 * H, 31), [L, 2, B, 4 * H]);
    const wF = tf.tensor(values(H * 4 * H, 32), [H, 4 * H]).mul(0.5) as tf.Tensor2D;
    const wB = tf.tensor(values(H * 4 * H, 33), [H, 4 * H]).mul(0.5) as tf.Tensor2D;
    // Rows of length 5, 3 and 1: the backward direction starts late, the forward one stops early.
    const lengths = [5, 3, 1];
    const mask = new Float32Array(L * 2 * B);
    for (let k = 0; k < L; k++) {
      lengths.forEach((n, b) => {
        mask[k * 2 * B + b] = k < n ? 1 : 0;
        mask[k * 2 * B + B + b] = L - 1 - k < n ? 1 : 0;
      });
    }
    const valid = tf.tensor(mask, [L, 2, B, 1]);
    const weights = tf.tensor(values(L * 2 * B * H, 34), [L, 2, B, H]);
    const loss = (hs: tf.Tensor) => hs.mul(weights).sum();
    const before = tf.memory().numTensors;
    const ours = tf.tidy(() =>
      tf.grads((x: tf.Tensor, f: tf.Tensor, b: tf.Tensor) => loss(recurrenceWithGrad(x, f as tf.Tensor2D, b as tf.Tensor2D, valid)))([inputs, wF, wB]).map((g) => g.dataSync()),
    );
    const auto = tf.tidy(() =>
      tf.grads((x: tf.Tensor, f: tf.Tensor, b: tf.Tensor) => loss(recurrence(x, f as tf.Tensor2D, b as tf.Tensor2D, valid, false).hs))([inputs, wF, wB]).map((g) => g.dataSync()),
    );
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < 3; i++) expectClose(ours[i], auto[i], 1e-4, 1e-6);
    // Same forward values too.
    const [h1, h2] = tf.tidy(() => [recurrenceWithGrad(inputs, wF, wB, valid).dataSync(), recurrence(inputs, wF, wB, valid, false).hs.dataSync()]);
    expect(Array.from(h1)).toEqual(Array.from(h2));
    tf.dispose([inputs, wF, wB, valid, weights]);
  });
});
