/**
 * The multi-threaded tfjs wasm backend, in Node.
 *
 * @tensorflow/tfjs-backend-wasm ships a threaded SIMD build (XNNPACK over a pthreadpool of
 * Web Workers) but never uses it in Node: its WASM_HAS_MULTITHREAD_SUPPORT flag is hard-wired
 * to false there (tfjs issue #3830). The emscripten glue itself knows Node (it takes Worker
 * from worker_threads); what breaks is tfjs's loader, which assumes a browser:
 *
 *   1. The worker script is handed over as a blob: URL, which worker_threads cannot start.
 *      We start each worker from the same source text with `eval: true` instead.
 *   2. The main script is handed to the workers as a Blob (for importScripts). We hand them
 *      the glue's file path, which the glue's Node branch of importScripts reads from disk.
 *   3. The C++ side caps its pool at emscripten_num_logical_cores() / 2 (it assumes two
 *      hyper-threads per core), which is 1 on a 2-core machine. The glue answers that call
 *      with require('os').cpus().length, so we give the glue an `os` that reports 2 * threads.
 *   4. A pthread keeps its worker ref'ed while it runs, and pthreadpool threads run forever,
 *      so the process would never exit by itself. Our workers ignore ref(): they never hold
 *      the event loop open, and die with the process.
 *   5. The build pre-creates 8 workers (PTHREAD_POOL_SIZE=8), each a full V8 isolate; a pool of
 *      N threads needs N - 1 (the calling thread is one of them). We lower that number in the
 *      glue's text when the expected statement is there, and keep 8 otherwise.
 *
 * Nothing is written to disk and the package's files are not modified: the glue is read and
 * evaluated here with a `require` of our own. If anything fails (a different tfjs build, a
 * worker that does not come up in time), the backend falls back to tfjs's own single-threaded
 * SIMD loader and records why.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as workerThreads from 'worker_threads';
import * as tf from '@tensorflow/tfjs';

/** What the last wasm backend initialisation ended up with. */
export interface WasmThreadsState {
  requested: number;
  /** Threads XNNPACK computes with (the backend's own getThreadsCount()). */
  threads: number;
  /** Why the threaded build is not in use, when it was asked for and could not start. */
  fallbackReason: string | null;
}

/** The slice of @tensorflow/tfjs-backend-wasm this module uses. */
interface WasmPackage {
  BackendWasm: new (module: unknown) => tf.KernelBackend;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

/** The emscripten module object, as far as we touch it. */
interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...args: unknown[]) => unknown;
  tfjs?: Record<string, (...args: unknown[]) => unknown>;
  PThread?: { terminateAllThreads(): void };
}

type GlueFactory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

/** Emscripten hard-codes at most 8 pre-created workers and the C++ side caps threads at 8. */
export const MAX_WASM_THREADS = 8;
/** Worker start-up (isolate, glue evaluation, wasm instantiation) normally takes well under a second. */
const START_TIMEOUT_MS = 30_000;

let state: WasmThreadsState | null = null;

/** The state of the last wasm backend initialisation, or null before one. */
export function wasmThreadsState(): WasmThreadsState | null {
  return state;
}

/** Logical cores as Node sees them (respects CPU affinity where Node supports it). */
export function availableCores(): number {
  const fromNode = (os as { availableParallelism?: () => number }).availableParallelism?.();
  return Math.max(1, fromNode ?? os.cpus().length);
}

function packageDir(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
}

/**
 * Replace the registered 'wasm' backend factory by one that starts the threaded build with
 * `threads` threads (falling back to the single-threaded build on failure). Must run before the
 * wasm backend is first initialised; returns false (and changes nothing) if it already was.
 */
export function useThreadedWasm(threads: number): boolean {
  const wanted = Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(threads)));
  const engine = tf.engine() as unknown as { registry: Record<string, unknown> };
  if (engine.registry.wasm) return false;
  const original = tf.findBackendFactory('wasm');
  if (!original) throw new Error('the wasm backend is not registered (import @tensorflow/tfjs-backend-wasm first)');
  const pkg = require('@tensorflow/tfjs-backend-wasm') as WasmPackage;

  const singleThreaded = async (requested: number, reason: string | null): Promise<tf.KernelBackend> => {
    pkg.setThreadsCount(1);
    const backend = await original();
    state = { requested, threads: pkg.getThreadsCount(), fallbackReason: reason };
    return backend;
  };

  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      if (wanted === 1) return singleThreaded(1, null);
      let module: EmscriptenModule;
      try {
        module = await loadThreadedModule(wanted);
      } catch (e) {
        return singleThreaded(wanted, (e as Error).message ?? String(e));
      }
      pkg.setThreadsCount(wanted);
      const backend = new pkg.BackendWasm(module);
      state = { requested: wanted, threads: pkg.getThreadsCount(), fallbackReason: null };
      return backend;
    },
    2, // tfjs-backend-wasm's own priority
  );
  return true;
}

/** Workers started for the threaded build, so that a failed start can stop them all. */
const startedWorkers = new Set<workerThreads.Worker>();

async function loadThreadedModule(threads: number): Promise<EmscriptenModule> {
  const outDir = path.join(packageDir(), 'wasm-out');
  const gluePath = path.join(outDir, 'tfjs-backend-wasm-threaded-simd.js');
  const workerModule = path.join(outDir, 'tfjs-backend-wasm-threaded-simd.worker.js');
  if (!fs.existsSync(gluePath) || !fs.existsSync(workerModule)) {
    throw new Error(`the threaded wasm build is missing from ${outDir}`);
  }
  // The worker source is exported as a template string, whose '\n' escapes became real newlines
  // (inside string literals of the minified code); put the escapes back.
  const workerSource = (require(workerModule) as { wasmWorkerContents: string }).wasmWorkerContents.replace(/\n/g, '\\n');

  class NodeWasmWorker extends workerThreads.Worker {
    constructor() {
      super(workerSource, { eval: true });
      startedWorkers.add(this);
      this.once('exit', () => startedWorkers.delete(this));
      this.unref();
    }
    // Idle pool threads block forever; they must never keep the process alive (see 4. above).
    override ref(): void {}
  }

  const fakeCpus = new Array(2 * threads).fill(os.cpus()[0] ?? {});
  const glueRequire = (name: string): unknown => {
    if (name === 'worker_threads') return { ...workerThreads, Worker: NodeWasmWorker };
    if (name === 'os') return { ...os, cpus: () => fakeCpus };
    return require(name);
  };

  let glue = fs.readFileSync(gluePath, 'utf8');
  glue = glue.replace('var pthreadPoolSize=8;', `var pthreadPoolSize=${threads - 1};`);
  const exportsBox: { exports: unknown } = { exports: {} };
  // Evaluated in this realm (as tfjs evaluates its own loader), with our `require`.
  new Function('require', 'module', 'exports', '__filename', '__dirname', glue)(
    glueRequire,
    exportsBox,
    exportsBox.exports,
    gluePath,
    outDir,
  );
  const factory = exportsBox.exports as GlueFactory;
  if (typeof factory !== 'function') throw new Error('the threaded wasm glue did not export its factory');

  // The glue installs process-wide listeners that rethrow, and a global Worker; undo both.
  const before = {
    uncaughtException: process.listeners('uncaughtException'),
    unhandledRejection: process.listeners('unhandledRejection'),
  };
  const g = globalThis as Record<string, unknown>;
  const hadWorker = Object.prototype.hasOwnProperty.call(g, 'Worker');
  const previousWorker = g.Worker;
  let timer: NodeJS.Timeout | undefined;
  try {
    const module = await Promise.race([
      factory({
        locateFile: (file: string) => path.join(outDir, file),
        mainScriptUrlOrBlob: gluePath,
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`wasm worker threads did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
        timer.unref();
      }),
    ]);
    attachTfjsBindings(module);
    return module;
  } catch (e) {
    for (const w of startedWorkers) void w.terminate();
    throw e;
  } finally {
    clearTimeout(timer);
    for (const l of process.listeners('uncaughtException')) {
      if (!before.uncaughtException.includes(l)) process.removeListener('uncaughtException', l);
    }
    for (const l of process.listeners('unhandledRejection')) {
      if (!before.unhandledRejection.includes(l)) process.removeListener('unhandledRejection', l);
    }
    if (hadWorker) g.Worker = previousWorker;
    else delete g.Worker;
  }
}

/** The C entry points BackendWasm calls through `module.tfjs` (what tfjs's own init() sets up). */
function attachTfjsBindings(module: EmscriptenModule): void {
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
}
