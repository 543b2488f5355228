/**
 * Out-of-memory on the wasm backend, made an error instead of silent corruption.
 *
 * tfjs's wasm backend places every tensor with `malloc` in a wasm32 heap that can grow to 4 GiB.
 * When it cannot grow, this emscripten build's `malloc` returns 0 and tfjs writes the tensor at
 * address 0 over whatever lives there: wrong numbers, or a crash much later. A request of 4 GiB
 * or more is worse: the size wraps modulo 2^32 and a too-small block is handed out. The guard
 * wraps `malloc` so that both become an `OutOfMemoryError` (which leaves the heap usable: the
 * failed tensor was never registered). It also enforces an optional budget on the bytes held by
 * tensors, for services that must bound their memory (GLINER_TF_MEMORY_LIMIT_MB). The budget is
 * counted as tf.memory().numBytes counts: in a training step the weights tfjs saves for the
 * backward pass count again although our Identity kernel shares their buffers, so there it is a
 * conservative (high) figure.
 */
import * as tf from '@tensorflow/tfjs';

/** The most a wasm32 heap can address (tfjs's emscripten build: getHeapMax()). */
export const WASM_HEAP_MAX_BYTES = 4294901760;

const MB = 1024 * 1024;

export class OutOfMemoryError extends Error {
  constructor(
    /** Bytes of the allocation that failed. */
    readonly requestedBytes: number,
    /** Bytes held by live tensors when it failed. */
    readonly inUseBytes: number,
    /** The limit that was hit: the memory budget, or the 4 GiB wasm heap. */
    readonly limitBytes: number,
    readonly reason: 'budget' | 'heap',
  ) {
    const what = reason === 'budget' ? `the memory limit of ${mb(limitBytes)} (GLINER_TF_MEMORY_LIMIT_MB)` : `the wasm backend's ${mb(limitBytes)} heap`;
    super(`out of memory: a ${mb(requestedBytes)} tensor does not fit in ${what}, with ${mb(inUseBytes)} held by live tensors`);
    this.name = 'OutOfMemoryError';
  }
}

function mb(bytes: number): string {
  return bytes >= 10 * 1024 * MB ? `${(bytes / 1024 / MB).toFixed(1)} GiB` : `${(bytes / MB).toFixed(1)} MiB`;
}

/**
 * Whether `e` says that memory ran out, on any backend: our OutOfMemoryError (wasm), native
 * TensorFlow's "OOM when allocating" (tfjs-node, CUDA), or a typed array the JavaScript engine
 * could not allocate (cpu backend).
 */
export function isOutOfMemoryError(e: unknown): boolean {
  if (e instanceof OutOfMemoryError) return true;
  const msg = e instanceof Error ? e.message : String(e);
  return /\bOOM when allocating|out of memory|Array buffer allocation failed|Invalid typed array length|Cannot enlarge memory/i.test(msg);
}

let budgetBytes: number | null = null;

/** The budget on bytes held by tensors (null: none). Read from GLINER_TF_MEMORY_LIMIT_MB when first guarded. */
export function memoryLimitBytes(): number | null {
  return budgetBytes;
}

/** Set (or clear, with null) the budget on bytes held by tensors; enforced on the wasm backend. */
export function setMemoryLimitBytes(bytes: number | null): void {
  if (bytes !== null && !(Number.isFinite(bytes) && bytes > 0)) throw new RangeError(`memory limit must be a positive number of bytes, got ${bytes}`);
  budgetBytes = bytes;
}

/** GLINER_TF_MEMORY_LIMIT_MB, validated. */
export function memoryLimitFromEnv(): number | null {
  const v = process.env.GLINER_TF_MEMORY_LIMIT_MB;
  if (v === undefined || v === '') return null;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`GLINER_TF_MEMORY_LIMIT_MB='${v}' is not a positive number of MiB`);
  return n * MB;
}

interface WasmModuleLike {
  _malloc(bytes: number): number;
  /** The module's raw exports. */
  asm?: { malloc?: (bytes: number) => number };
}

const guarded = new WeakSet<object>();

/** Wrap the wasm backend's malloc (once per backend instance); see the file comment. */
export function guardWasmAllocations(backend: tf.KernelBackend): void {
  const wasm = (backend as unknown as { wasm?: WasmModuleLike }).wasm;
  if (!wasm || typeof wasm._malloc !== 'function' || guarded.has(wasm)) return;
  guarded.add(wasm);
  // The raw export: emscripten's `_malloc` is a stub that replaces itself on first call, which
  // would also replace a wrapper that called it.
  const raw = wasm.asm?.malloc;
  if (typeof raw !== 'function') return;
  const malloc = raw;
  wasm._malloc = (bytes: number): number => {
    // tf.memory().numBytes counts the tensors already registered, not this one
    const inUse = () => tf.memory().numBytes;
    if (budgetBytes !== null && inUse() + bytes > budgetBytes) throw new OutOfMemoryError(bytes, inUse(), budgetBytes, 'budget');
    if (bytes >= WASM_HEAP_MAX_BYTES) throw new OutOfMemoryError(bytes, inUse(), WASM_HEAP_MAX_BYTES, 'heap');
    const ptr = malloc(bytes);
    if (ptr === 0 && bytes > 0) throw new OutOfMemoryError(bytes, inUse(), WASM_HEAP_MAX_BYTES, 'heap');
    return ptr;
  };
}
