/**
 * Identity, Slice, SplitV, Unpack and GatherV2 for the wasm backend.
 *
 * tfjs-backend-wasm's versions are slow where the model leans on them:
 *   - Slice starts with readSync(x), a copy of the WHOLE input out of the heap, for every slice.
 *     SplitV and Unpack call it once per output, so unstacking L steps copies the input L times
 *     (the BiLSTM's unstack and the gradient of its stack were O(L^2) in memory traffic).
 *   - GatherV2 checks every index in JavaScript through a closure, then gathers one element at a
 *     time in C++, decoding each output offset through a freshly allocated std::vector. Gathering
 *     the c2p/p2c attention terms (H*B*T*T single floats) took ~0.3 s per layer. It is also wrong
 *     for batchDims > 0 (it strides the indices by the batch count).
 *   - Identity copies its input. tfjs runs it for every tf.clone, and the engine clones each
 *     input it saves for the backward pass: every weight a training step touches was copied (the
 *     128103 x 768 word-embedding table alone is 375 MB), as was the full-size gradient that
 *     gather's gradient passes through an identity transpose.
 * Identity now shares the input's buffer (reference counted, as Reshape already does: tensors
 * are immutable); the others compute the same values with contiguous block copies.
 */
import * as tf from '@tensorflow/tfjs';

type KernelArgs = Parameters<tf.KernelFunc>[0];
type Heap = Float32Array | Int32Array | Uint8Array;

interface HeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Heap;
}

const replaced = new Map<string, tf.KernelConfig>();

/** Install the kernels (idempotent); the originals still serve string tensors. */
export function registerWasmCopyKernels(): void {
  const mine: [string, (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]][] = [
    ['Identity', identityKernel],
    ['Transpose', transposeKernel],
    ['Slice', sliceKernel],
    ['SplitV', splitKernel],
    ['Unpack', unpackKernel],
    ['GatherV2', gatherKernel],
  ];
  for (const [name, fn] of mine) {
    if (replaced.has(name)) continue;
    const original = tf.getKernel(name, 'wasm');
    if (!original) continue;
    replaced.set(name, original);
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      kernelName: name,
      backendName: 'wasm',
      setupFunc: original.setupFunc,
      disposeFunc: original.disposeFunc,
      kernelFunc: (args) => (hasString(args) ? original.kernelFunc(args) : fn(args)) as tf.TensorInfo,
    });
  }
}

/** Put tfjs's own kernels back (for benchmarks comparing the two). */
export function unregisterWasmCopyKernels(): void {
  for (const [name, original] of replaced) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(original);
  }
  replaced.clear();
}

function hasString(args: KernelArgs): boolean {
  return Object.values(args.inputs).some((t) => t !== undefined && (t as tf.TensorInfo).dtype === 'string');
}

/**
 * Copy the box [begin, begin + size) of `src` (row-major, `shape`) into `dst`, as whole runs of
 * the innermost dimensions the box spans completely.
 */
function copyBox(src: Heap, shape: readonly number[], begin: readonly number[], size: readonly number[], dst: Heap, dstOffset = 0): void {
  const rank = shape.length;
  if (tf.util.sizeFromShape(size as number[]) === 0) return;
  // Merge trailing dims the box covers fully into one contiguous run.
  let run = 1;
  let d = rank - 1;
  while (d >= 0 && begin[d] === 0 && size[d] === shape[d]) run *= shape[d--];
  if (d >= 0) run *= size[d]; // the innermost partial dim is still contiguous
  const outerRank = d; // dims [0, d) are iterated; dim d (if any) is inside the run
  const strides = tf.util.computeStrides(shape as number[]);
  const stride = (i: number) => (i === rank - 1 ? 1 : strides[i]);
  let offset = 0;
  for (let i = 0; i < rank; i++) offset += begin[i] * stride(i);
  if (outerRank <= 0) {
    dst.set(src.subarray(offset, offset + run), dstOffset);
    return;
  }
  const idx = new Array<number>(outerRank).fill(0);
  const count = tf.util.sizeFromShape(size.slice(0, outerRank) as number[]);
  let out = dstOffset;
  for (let n = 0; n < count; n++) {
    if (run < 16) {
      for (let k = 0; k < run; k++) dst[out + k] = src[offset + k];
    } else {
      dst.set(src.subarray(offset, offset + run), out);
    }
    out += run;
    for (let i = outerRank - 1; i >= 0; i--) {
      idx[i]++;
      offset += stride(i);
      if (idx[i] < size[i]) break;
      offset -= stride(i) * idx[i];
      idx[i] = 0;
    }
  }
}

function identityKernel({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  (backend as unknown as { incRef(dataId: tf.DataId): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

/** A permutation that only moves size-1 dimensions leaves the data in place: share it. */
function transposeKernel(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { perm } = args.attrs as unknown as { perm: number[] };
  const moved = perm.filter((p) => x.shape[p] !== 1);
  if (moved.every((p, i) => i === 0 || moved[i - 1] < p)) {
    const out = identityKernel(args);
    out.shape = perm.map((p) => x.shape[p]);
    return out;
  }
  return replaced.get('Transpose')!.kernelFunc(args) as tf.TensorInfo;
}

function sliceKernel({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const { begin, size } = attrs as unknown as { begin: number | number[]; size: number | number[] };
  const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
  const heap = backend as unknown as HeapBackend;
  const out = heap.makeOutput(s, x.dtype);
  // Views only after allocating: growing the heap replaces its buffer.
  copyBox(heap.typedArrayFromHeap(x), x.shape, b, s, heap.typedArrayFromHeap(out));
  return out;
}

/** Consecutive pieces of x along `axis`; each output's shape is `pieceShape(i)`. */
function pieces(backend: HeapBackend, x: tf.TensorInfo, axis: number, sizes: number[], dropAxis: boolean): tf.TensorInfo[] {
  const outs = sizes.map((n) => {
    const shape = x.shape.slice();
    shape[axis] = n;
    return backend.makeOutput(dropAxis ? shape.filter((_, i) => i !== axis) : shape, x.dtype);
  });
  const src = backend.typedArrayFromHeap(x);
  const begin = new Array<number>(x.shape.length).fill(0);
  outs.forEach((out, i) => {
    const size = x.shape.slice();
    size[axis] = sizes[i];
    copyBox(src, x.shape, begin, size, backend.typedArrayFromHeap(out));
    begin[axis] += sizes[i];
  });
  return outs;
}

function splitKernel({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo[] {
  const { x } = inputs as { x: tf.TensorInfo };
  const { numOrSizeSplits, axis } = attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
  const ax = tf.util.parseAxisParam(axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
  return pieces(backend as unknown as HeapBackend, x, ax, sizes, false);
}

function unpackKernel({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo[] {
  const { value } = inputs as { value: tf.TensorInfo };
  let { axis } = attrs as unknown as { axis: number };
  if (axis < 0) axis += value.shape.length;
  return pieces(backend as unknown as HeapBackend, value, axis, new Array<number>(value.shape[axis]).fill(1), true);
}

function gatherKernel({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo {
  const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
  const ax = tf.util.parseAxisParam(axis, x.shape)[0];
  const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x as tf.Tensor, indices as tf.Tensor, ax, batchDims);
  const heap = backend as unknown as HeapBackend;
  const out = heap.makeOutput(info.outputShape, x.dtype);
  // float32 and int32 are both moved as 32-bit words: one monomorphic Int32Array loop serves
  // both (and copies float bit patterns exactly); bool is one byte.
  const words = (t: tf.TensorInfo): Int32Array | Uint8Array => {
    const v = heap.typedArrayFromHeap(t);
    return v instanceof Uint8Array ? v : new Int32Array(v.buffer, v.byteOffset, v.length);
  };
  const src = words(x);
  const dst = words(out);
  const idx = heap.typedArrayFromHeap(indices) as Int32Array;
  const { batchSize, outerSize, dimSize, sliceSize } = info;
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i];
    if (!(v >= 0 && v < dimSize)) {
      (backend as unknown as { disposeData(id: tf.DataId): void }).disposeData(out.dataId);
      throw new Error(`GatherV2: the index value ${v} is not in [0, ${dimSize - 1}]`);
    }
  }
  if (src instanceof Int32Array) gatherRows(src, dst as Int32Array, idx, batchSize, outerSize, dimSize, sliceSize);
  else gatherRows(src, dst as Uint8Array, idx, batchSize, outerSize, dimSize, sliceSize);
  return out;
}

/** out[b, r, i, :] = x[b, r, idx[b, i], :] over the [batch, outer, dim, slice] view of x. */
function gatherRows<T extends Int32Array | Uint8Array>(
  src: T,
  dst: T,
  idx: Int32Array,
  batchSize: number,
  outerSize: number,
  dimSize: number,
  sliceSize: number,
): void {
  const perBatch = batchSize === 0 ? 0 : idx.length / batchSize;
  let o = 0;
  for (let b = 0; b < batchSize; b++) {
    const ids = b * perBatch;
    for (let r = 0; r < outerSize; r++) {
      const base = (b * outerSize + r) * dimSize * sliceSize;
      if (sliceSize === 1) {
        // Single elements (the attention's relative-position gathers): unrolled, ~30% faster in V8.
        let i = 0;
        for (; i + 4 <= perBatch; i += 4, o += 4) {
          dst[o] = src[base + idx[ids + i]];
          dst[o + 1] = src[base + idx[ids + i + 1]];
          dst[o + 2] = src[base + idx[ids + i + 2]];
          dst[o + 3] = src[base + idx[ids + i + 3]];
        }
        for (; i < perBatch; i++) dst[o++] = src[base + idx[ids + i]];
      } else if (sliceSize < 16) {
        for (let i = 0; i < perBatch; i++) {
          const s = base + idx[ids + i] * sliceSize;
          for (let k = 0; k < sliceSize; k++) dst[o++] = src[s + k];
        }
      } else {
        for (let i = 0; i < perBatch; i++) {
          const s = base + idx[ids + i] * sliceSize;
          dst.set(src.subarray(s, s + sliceSize), o);
          o += sliceSize;
        }
      }
    }
  }
}
