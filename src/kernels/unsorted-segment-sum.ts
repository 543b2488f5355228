/**
 * UnsortedSegmentSum for the wasm backend, which ships without it. TensorFlow.js uses it for the
 * gradient of every gather (embedding lookups, our span and word gathers), so without it nothing
 * trains on wasm.
 *
 *   out[segmentIds[i], ...] += x[i, ...]     out: [numSegments, ...x.shape.slice(1)]
 *
 * Ids outside [0, numSegments) are dropped, as TensorFlow does. Summation runs in JavaScript
 * over the wasm heap: it is memory-bound (one pass over x, one zero-fill of out), so a native
 * kernel would not be meaningfully faster.
 */
import * as tf from '@tensorflow/tfjs';

interface WasmBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array;
}

let registered = false;

export function registerWasmUnsortedSegmentSum(): void {
  if (registered || tf.getKernel('UnsortedSegmentSum', 'wasm')) return;
  registered = true;
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as { numSegments: number }).numSegments;
      const wasm = backend as unknown as WasmBackendLike;
      const ids = wasm.readSync(segmentIds.dataId);
      const rows = ids.length;
      const inner = rows === 0 ? 0 : tf.util.sizeFromShape(x.shape) / rows;
      const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
      const out = wasm.makeOutput(outShape, x.dtype);
      const dst = wasm.typedArrayFromHeap(out);
      dst.fill(0);
      if (rows > 0) {
        const src = wasm.typedArrayFromHeap(x);
        for (let r = 0; r < rows; r++) {
          const id = ids[r];
          if (id < 0 || id >= numSegments) continue;
          const s = r * inner;
          const d = id * inner;
          for (let k = 0; k < inner; k++) dst[d + k] += src[s + k];
        }
      }
      return out;
    },
  });
}
