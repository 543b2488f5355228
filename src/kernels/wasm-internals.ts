/**
 * The parts of tfjs-backend-wasm's BackendWasm that our kernels reach into. They are not public
 * API (hence the structural types and casts) but have been stable across the 4.x releases:
 *
 *   dataIdMap.get(dataId)   { id, memoryOffset }: the tensor's C++ id and its byte offset in the heap
 *   dataIdNextNumber        the counter BackendWasm draws tensor ids from
 *   wasm.tfjs               register_tensor / dispose_data: the C++ side's id -> (offset, size) table
 *   wasm.cwrap              emscripten's binding to an exported C function
 *   wasm.HEAPU8             the heap itself (its .buffer is replaced when the heap grows)
 */
import * as tf from '@tensorflow/tfjs';

export interface WasmTensorRecord {
  id: number;
  memoryOffset: number;
}

export interface WasmModuleLike {
  HEAPU8: Uint8Array;
  cwrap(name: string, ret: string | null, args: string[]): (...args: unknown[]) => unknown;
  tfjs: {
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void;
  };
}

export interface BackendWasmLike {
  wasm: WasmModuleLike;
  dataIdMap: { get(dataId: tf.DataId): WasmTensorRecord };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: tf.DataId): boolean;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

export function asWasm(backend: unknown): BackendWasmLike {
  return backend as BackendWasmLike;
}

/**
 * A C++-side tensor id for `size` floats at `byteOffset` of the heap, which may lie inside
 * another tensor's buffer. JavaScript's tensor table never sees it, so nothing will ever free
 * that memory through it: release it with `releaseHeapView`, which only drops the id (and any
 * XNNPACK operator cached on it).
 */
export function heapView(backend: BackendWasmLike, byteOffset: number, size: number): number {
  const id = backend.dataIdNextNumber++;
  backend.wasm.tfjs.registerTensor(id, size, byteOffset);
  return id;
}

export function releaseHeapView(backend: BackendWasmLike, id: number): void {
  backend.wasm.tfjs.disposeData(id);
}
