/**
 * A pool of prediction workers on one machine: N child processes (default) or N worker threads,
 * each with its own model and its own wasm backend of `threadsPerWorker` threads, so that
 * N x threads stays within the cores. Tasks (a group of texts) go to the next idle worker;
 * callers keep input order themselves (runPredictStream writes groups in order).
 *
 * A worker that dies (crash, out of memory, killed) fails the task it held with a
 * WorkerCrashedError naming those documents, and the pool accepts no more work: a corpus run
 * must not continue past documents it silently lost.
 */
import { ChildProcess, fork } from 'child_process';
import { Worker } from 'worker_threads';
import * as path from 'path';
import type { Entity } from '../decoding';
import type { BackendPreference } from '../backend';
import type { LabelSpec, PredictOptions } from '../gliner';
import { availableCores } from '../kernels/wasm-threads';
import { ResolveOptions, resolveModelSource } from '../io/resolve-model';
import type { FromWorker, ToWorker } from './protocol';

export type WorkerKind = 'process' | 'thread';

export class WorkerCrashedError extends Error {
  readonly code = 'WORKER_CRASHED';
  constructor(message: string, readonly documents: readonly string[]) {
    super(message);
    this.name = 'WorkerCrashedError';
  }
}

export interface PredictPoolOptions extends ResolveOptions {
  /** Model folder or hub repo id (resolved once, before the workers start). */
  model: string;
  /** Number of workers (>= 1). */
  workers: number;
  /** 'process' (default: isolated heaps, a crash takes down one worker) or 'thread'. */
  kind?: WorkerKind;
  /** wasm threads per worker; default max(1, floor(cores / workers)). */
  threadsPerWorker?: number;
  backend?: BackendPreference;
}

interface Task {
  id: number;
  texts: string[];
  labels: LabelSpec[];
  options: PredictOptions;
  /** Names of the documents (FILE:LINE or ids), for errors. */
  names: string[];
  resolve: (e: Entity[][]) => void;
  reject: (e: Error) => void;
}

/** One worker, whatever its kind. */
interface Handle {
  index: number;
  send(m: ToWorker): void;
  kill(): void;
  busy: Task | null;
  /** Resolves when the worker is gone. */
  exited: Promise<void>;
}

/** How to start this module's sibling from source (ts-node) or from the compiled build. */
function workerEntry(): { file: string; fromSource: boolean } {
  const ext = path.extname(__filename);
  return { file: path.join(__dirname, `predict-worker${ext}`), fromSource: ext === '.ts' };
}

function describeNames(names: readonly string[]): string {
  if (names.length <= 6) return names.join(', ');
  return `${names.slice(0, 3).join(', ')} ... ${names.slice(-2).join(', ')} (${names.length} documents)`;
}

export class PredictPool {
  private readonly handles: Handle[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  /** Set by the first crash: what happened. */
  private failure: string | null = null;
  private closing = false;

  private constructor(
    readonly size: number,
    readonly kind: WorkerKind,
    readonly threadsPerWorker: number,
  ) {}

  /** Starts the workers and waits until every one has loaded the model. */
  static async start(o: PredictPoolOptions): Promise<PredictPool> {
    if (!Number.isInteger(o.workers) || o.workers < 1) throw new RangeError(`workers must be a positive integer, got ${String(o.workers)}`);
    const kind = o.kind ?? 'process';
    if (kind !== 'process' && kind !== 'thread') throw new RangeError(`worker kind must be 'process' or 'thread', got '${String(kind)}'`);
    const threads = o.threadsPerWorker ?? Math.max(1, Math.floor(availableCores() / o.workers));
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threadsPerWorker must be a positive integer, got ${String(threads)}`);
    const source = await resolveModelSource(o.model, o);
    const pool = new PredictPool(o.workers, kind, threads);
    const ready: Promise<void>[] = [];
    for (let i = 0; i < o.workers; i++) ready.push(pool.spawn(i, source.modelDir, o.backend ?? 'auto'));
    try {
      await Promise.all(ready);
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  private spawn(index: number, modelDir: string, backend: BackendPreference): Promise<void> {
    const { file, fromSource } = workerEntry();
    const env = { ...process.env, GLINER_TF_WASM_THREADS: String(this.threadsPerWorker) };
    let onMessage!: (m: FromWorker) => void;
    let onExit!: (why: string) => void;
    let handle: Handle;
    if (this.kind === 'process') {
      const child: ChildProcess = fork(file, [], {
        env,
        execArgv: fromSource ? ['-r', 'ts-node/register/transpile-only'] : [],
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      child.on('message', (m) => onMessage(m as FromWorker));
      const exited = new Promise<void>((res) =>
        child.on('exit', (code, signal) => {
          onExit(signal ? `killed by ${signal}` : `exited with code ${code}`);
          res();
        }),
      );
      child.on('error', () => {}); // 'exit' follows and reports
      handle = { index, busy: null, exited, send: (m) => child.connected && child.send(m), kill: () => child.kill('SIGKILL') };
    } else {
      const code = fromSource
        ? `require('ts-node').register({ transpileOnly: true }); require(${JSON.stringify(file)}).startPredictWorker();`
        : `require(${JSON.stringify(file)}).startPredictWorker();`;
      const worker = new Worker(code, { eval: true, env, stderr: false, stdout: true });
      worker.on('message', (m) => onMessage(m as FromWorker));
      let lastError = '';
      worker.on('error', (e) => (lastError = `: ${e.message}`));
      const exited = new Promise<void>((res) =>
        worker.on('exit', (code) => {
          onExit(`exited with code ${code}${lastError}`);
          res();
        }),
      );
      handle = { index, busy: null, exited, send: (m) => worker.postMessage(m), kill: () => void worker.terminate() };
    }
    this.handles.push(handle);
    return new Promise<void>((resolveReady, rejectReady) => {
      let ready = false;
      onMessage = (m) => {
        if (m.type === 'ready') {
          ready = true;
          resolveReady();
          this.dispatch();
        } else if (m.type === 'init-failed') {
          rejectReady(new Error(`worker ${index + 1}: could not load the model: ${m.message}`));
        } else if (m.type === 'result' || m.type === 'failed') {
          const task = handle.busy;
          if (!task || task.id !== m.id) return;
          handle.busy = null;
          if (m.type === 'result') task.resolve(m.entities);
          else task.reject(new Error(m.message));
          this.dispatch();
        }
      };
      onExit = (why) => {
        const idx = this.handles.indexOf(handle);
        if (idx >= 0) this.handles.splice(idx, 1);
        if (!ready) rejectReady(new Error(`worker ${index + 1} ${why} while loading the model`));
        if (this.closing) return;
        const err = new WorkerCrashedError(
          `prediction worker ${index + 1} (${this.kind}) ${why}` +
            (handle.busy ? `; its documents have no results: ${describeNames(handle.busy.names)}` : ''),
          handle.busy?.names ?? [],
        );
        this.failure ??= `prediction worker ${index + 1} (${this.kind}) ${why}`;
        if (handle.busy) handle.busy.reject(err);
        handle.busy = null;
        // No silent continuation: everything still queued fails with the first crash.
        for (const t of this.queue.splice(0)) t.reject(this.crashedBefore(t.names));
      };
      handle.send({ type: 'init', modelDir, backend });
    });
  }

  /** Entities for each text (labels: one list per text), on the next idle worker. */
  predict(texts: string[], labels: LabelSpec[], options: PredictOptions = {}, names?: string[]): Promise<Entity[][]> {
    if (this.failure) return Promise.reject(this.crashedBefore(names ?? texts.map((_, i) => `text ${i + 1}`)));
    if (this.closing) return Promise.reject(new Error('PredictPool: predict after close()'));
    if (labels.length !== texts.length) return Promise.reject(new RangeError(`labels: ${labels.length} lists for ${texts.length} texts`));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.queue.push({ id, texts, labels, options, names: names ?? texts.map((_, i) => `text ${i + 1} of task ${id}`), resolve, reject });
      this.dispatch();
    });
  }

  private crashedBefore(names: string[]): WorkerCrashedError {
    return new WorkerCrashedError(`${this.failure}; the pool stopped, these documents have no results: ${describeNames(names)}`, names);
  }

  private dispatch(): void {
    for (const h of this.handles) {
      if (this.queue.length === 0) return;
      if (h.busy) continue;
      const task = this.queue.shift()!;
      h.busy = task;
      h.send({ type: 'predict', id: task.id, texts: task.texts, labels: task.labels, options: task.options });
    }
  }

  /** Process ids / thread indices are not exposed; this kills worker `i` (tests, crash drills). */
  killWorker(i: number): void {
    this.handles[i]?.kill();
  }

  /** Stops the workers (after their current task, or at once if they do not exit in 5 s). */
  async close(): Promise<void> {
    this.closing = true;
    for (const t of this.queue.splice(0)) t.reject(new Error('PredictPool closed'));
    const handles = [...this.handles];
    for (const h of handles) h.send({ type: 'exit' });
    await Promise.all(
      handles.map(async (h) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((res) => (timer = setTimeout(() => (h.kill(), res()), 5000)));
        await Promise.race([h.exited, late]);
        clearTimeout(timer);
        await h.exited;
      }),
    );
  }
}
