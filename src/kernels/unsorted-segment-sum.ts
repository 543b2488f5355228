/**
 * UnsortedSegmentSum: TensorFlow.js uses it for the gradient of every gather (embedding lookups,
 * our span and word gathers), so training needs it to be fast.
 *
 *   out[segmentIds[i], ...] += x[i, ...]     out: [numSegments, ...x.shape.slice(ids rank)]
 *
 * - wasm ships without it: nothing would train.
 * - cpu has one that builds a mask per segment (equal, multiply, sum for each of numSegments), so
 *   it costs numSegments x the input: 8 s for a 704-token vocabulary, hours for deberta's 128k.
 * Here it is one pass over x and one zero-fill of out, in JavaScript over the backend's memory
 * (memory-bound: a native kernel would not be meaningfully faster). Ids outside
 * [0, numSegments) are dropped, as TensorFlow does.
 */
import * as tf from '@tensorflow/tfjs';

interface WasmBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array;
}

interface CpuBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array | Int32Array): tf.TensorInfo;
}

interface Args {
  x: tf.TensorInfo;
  segmentIds: tf.TensorInfo;
  numSegments: number;
}

function unpack({ inputs, attrs }: Parameters<tf.KernelFunc>[0]): Args {
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  return { x, segmentIds, numSegments: (attrs as { numSegments: number }).numSegments };
}

function outShape({ x, segmentIds, numSegments }: Args): number[] {
  return [numSegments, ...x.shape.slice(segmentIds.shape.length)];
}

/** dst (zero-filled here) = the segment sums of src's rows. */
function segmentSum(ids: ArrayLike<number>, src: ArrayLike<number>, dst: Float32Array | Int32Array, numSegments: number): void {
  dst.fill(0);
  const rows = ids.length;
  if (rows === 0) return;
  const inner = src.length / rows;
  for (let r = 0; r < rows; r++) {
    const id = ids[r];
    if (id < 0 || id >= numSegments) continue;
    const s = r * inner;
    const d = id * inner;
    for (let k = 0; k < inner; k++) dst[d + k] += src[s + k];
  }
}

let wasmRegistered = false;

export function registerWasmUnsortedSegmentSum(): void {
  if (wasmRegistered || tf.getKernel('UnsortedSegmentSum', 'wasm')) return;
  wasmRegistered = true;
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: (kernelArgs) => {
      const args = unpack(kernelArgs);
      const wasm = kernelArgs.backend as unknown as WasmBackendLike;
      const ids = wasm.readSync(args.segmentIds.dataId);
      const out = wasm.makeOutput(outShape(args), args.x.dtype);
      const src = ids.length > 0 ? wasm.typedArrayFromHeap(args.x) : new Float32Array(0);
      segmentSum(ids, src, wasm.typedArrayFromHeap(out), args.numSegments);
      return out;
    },
  });
}

let cpuRegistered = false;

/** Replace the cpu backend's per-segment kernel (see the file comment). */
export function registerCpuUnsortedSegmentSum(): void {
  if (cpuRegistered) return;
  cpuRegistered = true;
  if (tf.getKernel('UnsortedSegmentSum', 'cpu')) tf.unregisterKernel('UnsortedSegmentSum', 'cpu');
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'cpu',
    kernelFunc: (kernelArgs) => {
      const args = unpack(kernelArgs);
      const cpu = kernelArgs.backend as unknown as CpuBackendLike;
      const shape = outShape(args);
      const dst = args.x.dtype === 'int32' ? new Int32Array(tf.util.sizeFromShape(shape)) : new Float32Array(tf.util.sizeFromShape(shape));
      segmentSum(cpu.readSync(args.segmentIds.dataId), cpu.readSync(args.x.dataId), dst, args.numSegments);
      return cpu.makeTensorInfo(shape, args.x.dtype, dst);
    },
  });
}
