/**
 * TensorFlow.js backend selection.
 *
 *   auto:        tfjs-node-gpu (CUDA) -> tfjs-node (native TensorFlow) -> wasm -> cpu, the first that loads
 *   tensorflow:  tfjs-node-gpu or tfjs-node, error if neither is installed
 *   wasm:        @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD), shipped with this package
 *   cpu:         plain JavaScript kernels; 30-40x slower than wasm, a last resort
 *
 * The native packages are optional peer dependencies: their install downloads libtensorflow,
 * which not every machine can reach, so we use them when present and never require them.
 */
import * as tf from '@tensorflow/tfjs';
import { registerWasmUnsortedSegmentSum } from './kernels/unsorted-segment-sum';

export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_PREFERENCES: readonly BackendPreference[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface BackendInfo {
  /** The tfjs backend name in use ('tensorflow', 'wasm' or 'cpu'). */
  name: string;
  /** Which package provides it. */
  provider: string;
  /** Threads the backend computes with, where known. */
  threads: number | null;
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

async function tryWasm(load: ModuleLoader): Promise<BackendInfo | null> {
  try {
    load('@tensorflow/tfjs-backend-wasm');
  } catch {
    return null;
  }
  // Kernels wasm lacks, needed for training (gather gradients).
  registerWasmUnsortedSegmentSum();
  if (!(await tf.setBackend('wasm'))) return null;
  return { name: 'wasm', provider: '@tensorflow/tfjs-backend-wasm', threads: 1 };
}

/**
 * Activate a backend (once per process unless `force`). The env var GLINER_TF_BACKEND
 * overrides 'auto'.
 */
export async function initBackend(
  preference: BackendPreference = 'auto',
  options: { force?: boolean; load?: ModuleLoader } = {},
): Promise<BackendInfo> {
  if (!BACKEND_PREFERENCES.includes(preference)) {
    throw new Error(`unknown backend '${String(preference)}' (choose one of: ${BACKEND_PREFERENCES.join(', ')})`);
  }
  if (preference === 'auto' && process.env.GLINER_TF_BACKEND) {
    preference = process.env.GLINER_TF_BACKEND as BackendPreference;
    if (!BACKEND_PREFERENCES.includes(preference)) {
      throw new Error(`GLINER_TF_BACKEND='${String(preference)}' is not one of: ${BACKEND_PREFERENCES.join(', ')}`);
    }
  }
  if (active && !options.force && (preference === 'auto' || preference === active.name)) return active;
  const load = options.load ?? defaultLoader;
  let info: BackendInfo | null = null;
  switch (preference) {
    case 'tensorflow':
      info = await tryNative(load);
      if (!info) throw new Error("backend 'tensorflow' needs @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu: npm install @tensorflow/tfjs-node");
      break;
    case 'wasm':
      info = await tryWasm(load);
      if (!info) throw new Error("backend 'wasm' could not be initialised (is @tensorflow/tfjs-backend-wasm installed?)");
      break;
    case 'cpu':
      await tf.setBackend('cpu');
      info = { name: 'cpu', provider: '@tensorflow/tfjs (cpu)', threads: 1 };
      break;
    case 'auto':
      info = (await tryNative(load)) ?? (await tryWasm(load));
      if (!info) {
        await tf.setBackend('cpu');
        info = { name: 'cpu', provider: '@tensorflow/tfjs (cpu)', threads: 1 };
      }
      break;
  }
  await tf.ready();
  active = info;
  return info;
}

/** The backend in use, or null before initBackend. */
export function activeBackend(): BackendInfo | null {
  return active;
}
