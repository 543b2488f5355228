/**
 * The optional native GEMM (native/gliner_blas.c, built at install time against the system
 * BLAS by scripts/build-native.js). When it is present, the wasm backend's BatchMatMul runs its
 * products there, on the same heap memory (no copies), instead of on XNNPACK's 128-bit wasm SIMD:
 * native code reaches the CPU's full vector width (AVX2 / AVX-512 / NEON). Everything else stays
 * on wasm. Absent or disabled (GLINER_TF_NATIVE_MATMUL=0), nothing changes.
 */
import * as fs from 'fs';
import * as path from 'path';

interface NativeBlasAddon {
  gemmBatch(
    heap: Float32Array,
    aOffset: number,
    bOffset: number,
    outOffset: number,
    m: number,
    k: number,
    n: number,
    transposeA: number,
    transposeB: number,
    aIndex: Int32Array,
    bIndex: Int32Array,
  ): void;
  setThreads(n: number): void;
  describe(): string;
}

export interface NativeMatMulState {
  /** The addon loaded. */
  available: boolean;
  /** Products go to it (available, and not switched off). */
  enabled: boolean;
  /** The library and kernel ("OpenBLAS (Haswell kernels, 2 threads)"), or why it is not in use. */
  detail: string;
}

let addon: NativeBlasAddon | null | undefined;
let loadFailure = '';
let switchedOff = process.env.GLINER_TF_NATIVE_MATMUL === '0';

/** build/Release of the package: one folder up from src/kernels in a checkout, two from dist/. */
function addonPath(): string | null {
  for (const up of ['../..', '../../..']) {
    const file = path.join(__dirname, up, 'build', 'Release', 'gliner_blas.node');
    if (fs.existsSync(file)) return file;
  }
  return null;
}

function load(): NativeBlasAddon | null {
  if (addon !== undefined) return addon;
  const file = addonPath();
  if (!file) {
    loadFailure = 'not built: `npm rebuild gliner-tf` with a C compiler and OpenBLAS (apt-get install libopenblas-dev) installed';
    addon = null;
    return addon;
  }
  try {
    addon = require(file) as NativeBlasAddon;
  } catch (e) {
    loadFailure = `${file} did not load: ${(e as Error).message.split('\n')[0]}`;
    addon = null;
  }
  return addon;
}

/** The addon when products should go to it, else null (one cached check per call). */
export function nativeGemm(): NativeBlasAddon | null {
  return switchedOff ? null : load();
}

/** Turn the native path on or off for this process (benchmarks and parity tests compare both). */
export function setNativeMatMul(enabled: boolean): void {
  switchedOff = !enabled;
}

/** BLAS threads: the same number the wasm backend computes with. */
export function setNativeThreads(threads: number): void {
  load()?.setThreads(threads);
}

export function nativeMatMulState(): NativeMatMulState {
  const a = load();
  if (!a) return { available: false, enabled: false, detail: loadFailure };
  if (switchedOff) return { available: true, enabled: false, detail: `${a.describe()}, switched off (GLINER_TF_NATIVE_MATMUL=0 or setNativeMatMul(false))` };
  return { available: true, enabled: true, detail: a.describe() };
}
