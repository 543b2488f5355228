/**
 * BatchMatMul for the wasm backend that always runs XNNPACK's GEMM.
 *
 * tfjs-backend-wasm's kernel has two paths: XNNPACK (a fully-connected operator, SIMD and
 * threaded) when both operands are single matrices without transpose flags, and a naive blocked
 * loop for everything else: any batch > 1 or any transpose flag, ~15x slower. Attention scores
 * (batched, transposed keys) and every matmul gradient (transpose flags) land on the slow path.
 *
 * This replacement keeps the original kernel for the case it does well and rewrites the others
 * into it:
 *   - a transpose flag becomes an explicit transpose (wasm's Transpose kernel, a memory copy)
 *     into a scratch tensor, after which the product has no flags;
 *   - when b is a single matrix (batch 1, possibly broadcast), a's batch is folded into its rows:
 *     one [batch*m, k] x [k, n] product, on which the original kernel keeps caching XNNPACK's
 *     packed weights by b's id (so repeated products with the same weights skip the packing);
 *   - otherwise, one XNNPACK product per output batch slice: the slices of a, b and the output
 *     are registered with the C++ side as views into the operands' heap buffers (no copies), the
 *     original C entry point runs on them, and the views are dropped again (which also frees the
 *     XNNPACK operator cached on the b view). Broadcast batch dimensions map several output
 *     slices onto the same operand slice.
 * Every product is thus an XNNPACK GEMM, with the precision of any flag-free 2-D product on this
 * backend. Non-float32 operands (which the original rejects) and mismatched shapes (which it
 * reports) still go to the original.
 */
import * as tf from '@tensorflow/tfjs';
import { asWasm, BackendWasmLike, heapView, releaseHeapView } from './wasm-internals';
import { nativeGemm } from './native-blas';

type KernelArgs = Parameters<tf.KernelFunc>[0];
type BatchMatMulFn = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: number,
  transposeB: number,
  outId: number,
) => void;

let installed: tf.KernelConfig | null = null;

/** Which way each product went (for the benchmarks and tests); FLOPs are 2*m*k*n per product. */
export interface MatMulPathStats {
  /** Single matrices without flags: the original kernel, XNNPACK. */
  direct: { calls: number; flops: number };
  /** b a single matrix: a's batch folded into rows, XNNPACK. */
  folded: { calls: number; flops: number };
  /** One XNNPACK product per batch slice. */
  sliced: { calls: number; flops: number; slices: number };
  /** The native BLAS GEMM on the heap operands (kernels/native-blas.ts), when it is built. */
  native: { calls: number; flops: number };
  /** Empty products (answered here) and mismatched shapes (the original kernel reports them). */
  other: { calls: number; flops: number };
}

function emptyStats(): MatMulPathStats {
  return { direct: { calls: 0, flops: 0 }, folded: { calls: 0, flops: 0 }, sliced: { calls: 0, flops: 0, slices: 0 }, native: { calls: 0, flops: 0 }, other: { calls: 0, flops: 0 } };
}

let stats = emptyStats();

/** Counters since the last reset (a few additions per product; always on). */
export function wasmMatMulStats(): MatMulPathStats {
  return JSON.parse(JSON.stringify(stats)) as MatMulPathStats;
}

export function resetWasmMatMulStats(): void {
  stats = emptyStats();
}

const entryPoints = new WeakMap<object, BatchMatMulFn>();

/** The C entry point `BatchMatMul`, bound once per backend instance. */
function cEntry(backend: BackendWasmLike): BatchMatMulFn {
  let fn = entryPoints.get(backend);
  if (!fn) {
    fn = backend.wasm.cwrap('BatchMatMul', null, [
      'number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number',
    ]) as unknown as BatchMatMulFn;
    entryPoints.set(backend, fn);
  }
  return fn;
}

const shapeBytes = (dims: number[]) => new Uint8Array(new Int32Array(dims).buffer);

/** Install the kernel (idempotent). Safe before or after the wasm backend is initialised. */
export function registerWasmBatchMatMul(): void {
  if (installed) return;
  const original = tf.getKernel('BatchMatMul', 'wasm');
  if (!original) return; // the wasm package is not loaded
  installed = original;
  const originalFunc = original.kernelFunc;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    // The original kernel binds its C function in its setup; it still runs for our fallbacks.
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
    kernelFunc: (args) => batchMatMul(args, originalFunc),
  });
}

/** Put tfjs's own kernel back (for benchmarks comparing the two). */
export function unregisterWasmBatchMatMul(): void {
  if (!installed) return;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel(installed);
  installed = null;
}

export function isWasmBatchMatMulRegistered(): boolean {
  return installed !== null;
}

function batchMatMul(args: KernelArgs, originalFunc: tf.KernelFunc): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || ra < 2 || rb < 2) return originalFunc(args) as tf.TensorInfo;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kB = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  const batchShapeA = a.shape.slice(0, -2);
  const batchShapeB = b.shape.slice(0, -2);
  const batchA = tf.util.sizeFromShape(batchShapeA);
  const batchB = tf.util.sizeFromShape(batchShapeB);
  const plain = !transposeA && !transposeB && batchA === 1 && batchB === 1;
  // Mismatched shapes: the original reports them.
  if (k !== kB) {
    stats.other.calls++;
    return originalFunc(args) as tf.TensorInfo;
  }
  const outBatchShape = tf.broadcast_util.assertAndGetBroadcastShape(batchShapeA, batchShapeB);
  if (m * n * k * batchA * batchB === 0) {
    // Empty operands: an empty output, or zeros for an empty sum (the original kernel hands
    // k = 0 to XNNPACK, which refuses it and leaves the output uninitialised).
    stats.other.calls++;
    const wasm = asWasm(args.backend);
    const out = wasm.makeOutput([...outBatchShape, m, n], 'float32');
    wasm.typedArrayFromHeap(out).fill(0);
    return out;
  }
  const flops = 2 * m * k * n * tf.util.sizeFromShape(outBatchShape);
  const native = nativeGemm();
  if (native) {
    stats.native.calls++;
    stats.native.flops += flops;
    return nativeProduct(native, asWasm(args.backend), a, b, transposeA, transposeB, batchShapeA, batchShapeB, outBatchShape, m, k, n);
  }
  if (plain) {
    stats.direct.calls++;
    stats.direct.flops += flops;
    return originalFunc(args) as tf.TensorInfo;
  }
  const outShape = [...outBatchShape, m, n];

  const backend = asWasm(args.backend);
  const scratch: tf.TensorInfo[] = [];
  try {
    // Operands as contiguous [batch, m, k] and [batch, k, n].
    let a3: tf.TensorInfo = { dataId: a.dataId, shape: [batchA, m, k], dtype: 'float32' };
    if (transposeA) {
      a3 = transposeLastTwo(args.backend, { dataId: a.dataId, shape: [batchA, k, m], dtype: 'float32' });
      scratch.push(a3);
    }
    let b3: tf.TensorInfo = { dataId: b.dataId, shape: [batchB, k, n], dtype: 'float32' };
    if (transposeB) {
      b3 = transposeLastTwo(args.backend, { dataId: b.dataId, shape: [batchB, n, k], dtype: 'float32' });
      scratch.push(b3);
    }

    if (batchB === 1) {
      stats.folded.calls++;
      stats.folded.flops += flops;
      // One product over all of a's rows; the output rows come out in [batch, m] order.
      const out = originalFunc({
        inputs: {
          a: { dataId: a3.dataId, shape: [batchA * m, k], dtype: 'float32' },
          b: { dataId: b3.dataId, shape: [k, n], dtype: 'float32' },
        },
        attrs: { transposeA: false, transposeB: false },
        backend: args.backend,
      }) as tf.TensorInfo;
      out.shape = outShape;
      return out;
    }
    stats.sliced.calls++;
    stats.sliced.flops += flops;
    stats.sliced.slices += tf.util.sizeFromShape(outBatchShape);
    return perSlice(backend, a3, b3, batchShapeA, batchShapeB, outBatchShape, outShape, m, k, n);
  } finally {
    for (const t of scratch) backend.disposeData(t.dataId);
  }
}

/**
 * The whole product in native code: transposes are BLAS flags (no scratch copies) and each
 * output slice is one GEMM on the operands' heap memory. When b is one matrix and a is not
 * transposed, a's batch folds into rows: a single [batch*m, k] x [k, n] GEMM.
 */
function nativeProduct(
  native: NonNullable<ReturnType<typeof nativeGemm>>,
  backend: BackendWasmLike,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  batchShapeA: number[],
  batchShapeB: number[],
  outBatchShape: number[],
  m: number,
  k: number,
  n: number,
): tf.TensorInfo {
  const out = backend.makeOutput([...outBatchShape, m, n], 'float32');
  // Taken after makeOutput, which may have grown (and so replaced) the heap's buffer.
  const heap = new Float32Array(backend.wasm.HEAPU8.buffer);
  const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset / 4;
  const fold = !transposeA && tf.util.sizeFromShape(batchShapeB) === 1;
  const rows = fold ? tf.util.sizeFromShape(outBatchShape) * m : m;
  const indexA = fold ? new Int32Array(1) : broadcastIndex(batchShapeA, outBatchShape);
  const indexB = fold ? new Int32Array(1) : broadcastIndex(batchShapeB, outBatchShape);
  try {
    native.gemmBatch(heap, offset(a), offset(b), offset(out), rows, k, n, transposeA ? 1 : 0, transposeB ? 1 : 0, indexA, indexB);
  } catch (e) {
    backend.disposeData(out.dataId);
    throw e;
  }
  return out;
}

/** [batch, r, c] -> [batch, c, r] with wasm's own Transpose kernel, into a new tensor. */
function transposeLastTwo(backend: KernelArgs['backend'], x: tf.TensorInfo): tf.TensorInfo {
  const transpose = tf.getKernel('Transpose', 'wasm')!.kernelFunc;
  return transpose({ inputs: { x }, attrs: { perm: [0, 2, 1] }, backend }) as tf.TensorInfo;
}

function perSlice(
  backend: BackendWasmLike,
  a3: tf.TensorInfo,
  b3: tf.TensorInfo,
  batchShapeA: number[],
  batchShapeB: number[],
  outBatchShape: number[],
  outShape: number[],
  m: number,
  k: number,
  n: number,
): tf.TensorInfo {
  const run = cEntry(backend);
  const out = backend.makeOutput(outShape, 'float32');
  const baseA = backend.dataIdMap.get(a3.dataId).memoryOffset;
  const baseB = backend.dataIdMap.get(b3.dataId).memoryOffset;
  const baseOut = backend.dataIdMap.get(out.dataId).memoryOffset;
  const sliceA = shapeBytes([1, m, k]);
  const sliceB = shapeBytes([1, k, n]);
  const indexA = broadcastIndex(batchShapeA, outBatchShape);
  const indexB = broadcastIndex(batchShapeB, outBatchShape);
  // Views are made once per operand slice: a b slice used by several outputs (broadcasting)
  // then also reuses the XNNPACK operator packed for it.
  const viewsA = new Map<number, number>();
  const viewsB = new Map<number, number>();
  let done = false;
  const viewOf = (views: Map<number, number>, base: number, slice: number, size: number) => {
    let id = views.get(slice);
    if (id === undefined) {
      id = heapView(backend, base + 4 * slice * size, size);
      views.set(slice, id);
    }
    return id;
  };
  try {
    for (let o = 0; o < indexA.length; o++) {
      const aId = viewOf(viewsA, baseA, indexA[o], m * k);
      const bId = viewOf(viewsB, baseB, indexB[o], k * n);
      const outId = heapView(backend, baseOut + 4 * o * m * n, m * n);
      try {
        run(aId, sliceA, 3, bId, sliceB, 3, 0, 0, outId);
      } finally {
        releaseHeapView(backend, outId);
      }
    }
    done = true;
  } finally {
    for (const id of viewsA.values()) releaseHeapView(backend, id);
    for (const id of viewsB.values()) releaseHeapView(backend, id);
    if (!done) backend.disposeData(out.dataId);
  }
  return out;
}

/**
 * For each output batch index (row-major over `outShape`), the flat index of the operand's
 * batch slice it reads, with numpy broadcasting (`shape` right-aligned, size-1 dims repeated).
 */
export function broadcastIndex(shape: number[], outShape: number[]): Int32Array {
  const total = tf.util.sizeFromShape(outShape);
  const result = new Int32Array(total);
  const offset = outShape.length - shape.length;
  // Stride of each output dim in the operand (0 where the operand broadcasts).
  const strides = new Array<number>(outShape.length).fill(0);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d + offset] = shape[d] === 1 ? 0 : s;
    s *= shape[d];
  }
  const idx = new Array<number>(outShape.length).fill(0);
  let flat = 0;
  for (let o = 0; o < total; o++) {
    result[o] = flat;
    // Increment the multi-index, odometer style, keeping `flat` in step.
    for (let d = outShape.length - 1; d >= 0; d--) {
      idx[d]++;
      flat += strides[d];
      if (idx[d] < outShape[d]) break;
      flat -= strides[d] * idx[d];
      idx[d] = 0;
    }
  }
  return result;
}
