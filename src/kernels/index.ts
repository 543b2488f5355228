/** Kernels we add to, or replace in, the wasm backend. */
import { registerCpuUnsortedSegmentSum, registerWasmUnsortedSegmentSum } from './unsorted-segment-sum';
import { registerWasmBatchMatMul } from './batch-matmul';
import { registerWasmCopyKernels } from './wasm-copy-kernels';

export { registerWasmBatchMatMul, unregisterWasmBatchMatMul, isWasmBatchMatMulRegistered, wasmMatMulStats, resetWasmMatMulStats } from './batch-matmul';
export type { MatMulPathStats } from './batch-matmul';
export { registerWasmUnsortedSegmentSum, registerCpuUnsortedSegmentSum } from './unsorted-segment-sum';
export { registerWasmCopyKernels, unregisterWasmCopyKernels } from './wasm-copy-kernels';
export { useThreadedWasm, wasmThreadsState, availableCores, MAX_WASM_THREADS } from './wasm-threads';

/** Everything the model needs from the wasm backend beyond what tfjs ships: call after loading the package. */
export function registerWasmKernels(): void {
  registerWasmUnsortedSegmentSum();
  registerWasmBatchMatMul();
  registerWasmCopyKernels();
}

/** What the cpu backend needs: a gather gradient that is not O(vocabulary x input). */
export function registerCpuKernels(): void {
  registerCpuUnsortedSegmentSum();
}
