/**
 * TensorFlow.js backend selection.
 *
 *   auto:        tfjs-node-gpu (CUDA) -> tfjs-node (native TensorFlow) -> wasm -> cpu, the first that loads
 *   tensorflow:  tfjs-node-gpu or tfjs-node, error if neither is installed
 *   wasm:        @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD), shipped with this package; runs its
 *                threaded build with `threads` worker threads (default: the number of cores, see
 *                kernels/wasm-threads.ts) and our replacement kernels (kernels/); its matrix
 *                products run in the native BLAS addon when that was built (kernels/native-blas.ts)
 *   cpu:         plain JavaScript kernels; 30-40x slower than wasm, a last resort
 *
 * The native packages are optional peer dependencies: their install downloads libtensorflow,
 * which not every machine can reach, so we use them when present and never require them.
 */
import * as tf from '@tensorflow/tfjs';
import { registerCpuKernels, registerWasmKernels } from './kernels';
import { availableCores, MAX_WASM_THREADS, useThreadedWasm, wasmThreadsState } from './kernels/wasm-threads';
import { releaseGradientsEagerly } from './kernels/eager-backprop';
import { nativeMatMulState, setNativeThreads } from './kernels/native-blas';
import { guardWasmAllocations, memoryLimitBytes, memoryLimitFromEnv, setMemoryLimitBytes } from './kernels/wasm-memory';

export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_PREFERENCES: readonly BackendPreference[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface BackendInfo {
  /** The tfjs backend name in use ('tensorflow', 'wasm' or 'cpu'). */
  name: string;
  /** Which package provides it. */
  provider: string;
  /** Threads the backend computes with, where known. */
  threads: number | null;
  /** Set when the backend runs with less than was asked for (e.g. the threaded wasm build could not start), saying why. */
  note?: string;
  /** wasm only: where matrix products run ("native: OpenBLAS (...)" or "xnnpack (wasm SIMD): <why not native>"). */
  matmul?: string;
}

export interface InitBackendOptions {
  /** Re-select even if a backend is already active. */
  force?: boolean;
  /** Module loader, replaceable in tests to simulate installed / missing packages. */
  load?: ModuleLoader;
  /**
   * wasm only: threads for XNNPACK (1..8). Default: GLINER_TF_WASM_THREADS, else the number of
   * logical cores. Takes effect when the wasm backend first starts in this process.
   */
  threads?: number;
  /**
   * Budget in MiB on the bytes held by tensors, enforced on the wasm backend: a tensor that would
   * exceed it fails with an OutOfMemoryError. Default: GLINER_TF_MEMORY_LIMIT_MB, else none (the
   * wasm heap's own 4 GiB). Applies to the whole process.
   */
  memoryLimitMb?: number;
}

let active: BackendInfo | null = null;

/** Module loader, replaceable in tests to simulate installed / missing native packages. */
export type ModuleLoader = (name: string) => unknown;
const defaultLoader: ModuleLoader = (name) => require(name);

async function tryNative(load: ModuleLoader): Promise<BackendInfo | null> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      load(pkg);
    } catch {
      continue;
    }
    if (await tf.setBackend('tensorflow')) return { name: 'tensorflow', provider: pkg, threads: null };
  }
  return null;
}

/** Threads to ask of the wasm backend: the option, else GLINER_TF_WASM_THREADS, else the core count. */
export function wasmThreadsWanted(option?: number): number {
  let n = option;
  if (n === undefined && process.env.GLINER_TF_WASM_THREADS) {
    n = Number(process.env.GLINER_TF_WASM_THREADS);
    if (!Number.isInteger(n) || n < 1) throw new Error(`GLINER_TF_WASM_THREADS='${process.env.GLINER_TF_WASM_THREADS}' is not a positive integer`);
  }
  if (n === undefined) n = availableCores();
  if (!Number.isInteger(n) || n < 1) throw new Error(`threads must be a positive integer (got ${n})`);
  return Math.min(n, MAX_WASM_THREADS);
}

async function tryWasm(load: ModuleLoader, threads: number): Promise<BackendInfo | null> {
  try {
    load('@tensorflow/tfjs-backend-wasm');
  } catch {
    return null;
  }
  // Missing kernels (UnsortedSegmentSum, for gather gradients) and a BatchMatMul that stays on XNNPACK.
  registerWasmKernels();
  // Swaps in the threaded loader, unless the wasm backend already started in this process.
  useThreadedWasm(threads);
  if (!(await tf.setBackend('wasm'))) return null;
  // A failed allocation becomes an OutOfMemoryError instead of writing at address 0.
  guardWasmAllocations(tf.backend());
  const st = wasmThreadsState();
  const threadCount = st ? st.threads : 1;
  // BLAS computes with as many threads as XNNPACK does: the two never run at the same time.
  setNativeThreads(threadCount);
  const native = nativeMatMulState();
  const info: BackendInfo = {
    name: 'wasm',
    provider: '@tensorflow/tfjs-backend-wasm',
    threads: threadCount,
    matmul: native.enabled ? `native: ${native.detail}` : `xnnpack (wasm SIMD); native path ${native.detail}`,
  };
  if (st?.fallbackReason) info.note = `wasm runs on 1 thread: the threaded build did not start (${st.fallbackReason})`;
  else if (st && st.threads < st.requested) info.note = `wasm runs on ${st.threads} of the ${st.requested} threads asked for`;
  return info;
}

/** Calls of initBackend run one after another: two concurrent model loads must not race. */
let initQueue: Promise<unknown> = Promise.resolve();

/**
 * Activate a backend (once per process unless `force`). The env var GLINER_TF_BACKEND
 * overrides 'auto'. Concurrent calls are served in order; the second finds the first's backend.
 */
export function initBackend(preference: BackendPreference = 'auto', options: InitBackendOptions = {}): Promise<BackendInfo> {
  const run = initQueue.then(() => initBackendNow(preference, options));
  initQueue = run.catch(() => undefined);
  return run;
}

async function initBackendNow(preference: BackendPreference, options: InitBackendOptions): Promise<BackendInfo> {
  if (!BACKEND_PREFERENCES.includes(preference)) {
    throw new Error(`unknown backend '${String(preference)}' (choose one of: ${BACKEND_PREFERENCES.join(', ')})`);
  }
  if (preference === 'auto' && process.env.GLINER_TF_BACKEND) {
    preference = process.env.GLINER_TF_BACKEND as BackendPreference;
    if (!BACKEND_PREFERENCES.includes(preference)) {
      throw new Error(`GLINER_TF_BACKEND='${String(preference)}' is not one of: ${BACKEND_PREFERENCES.join(', ')}`);
    }
  }
  // Kernels are registered per backend name, so this is harmless when another backend is chosen.
  registerCpuKernels();
  if (options.memoryLimitMb !== undefined) setMemoryLimitBytes(options.memoryLimitMb * 1024 * 1024);
  else if (memoryLimitBytes() === null) setMemoryLimitBytes(memoryLimitFromEnv());
  if (active && !options.force && (preference === 'auto' || preference === active.name)) return active;
  const load = options.load ?? defaultLoader;
  const threads = wasmThreadsWanted(options.threads);
  let info: BackendInfo | null = null;
  switch (preference) {
    case 'tensorflow':
      info = await tryNative(load);
      if (!info) throw new Error("backend 'tensorflow' needs @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu: npm install @tensorflow/tfjs-node");
      break;
    case 'wasm':
      info = await tryWasm(load, threads);
      if (!info) throw new Error("backend 'wasm' could not be initialised (is @tensorflow/tfjs-backend-wasm installed?)");
      break;
    case 'cpu':
      await tf.setBackend('cpu');
      info = { name: 'cpu', provider: '@tensorflow/tfjs (cpu)', threads: 1 };
      break;
    case 'auto':
      info = (await tryNative(load)) ?? (await tryWasm(load, threads));
      if (!info) {
        await tf.setBackend('cpu');
        info = { name: 'cpu', provider: '@tensorflow/tfjs (cpu)', threads: 1 };
      }
      break;
  }
  await tf.ready();
  // Training memory: free each intermediate gradient as soon as backprop has used it (all backends).
  releaseGradientsEagerly();
  active = info;
  return info;
}

/** The backend in use, or null before initBackend. */
export function activeBackend(): BackendInfo | null {
  return active;
}
