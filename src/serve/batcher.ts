/**
 * Dynamic batching: texts from concurrent requests are gathered into model batches of at most
 * `maxBatchSize` texts, waiting at most `maxWaitMs` for a batch to fill.
 *
 * Fairness: a batch takes texts round-robin across the waiting requests (oldest first), so a
 * request with many texts never holds back a later short one by more than the batch being run.
 * Results: one library call per batch with one label list per text; a text's entities depend only
 * on its own text, labels and decoding options, so they equal a per-request call. Texts are only
 * batched with texts that share decoding options (threshold, flatNer, multiLabel).
 */
import type { Entity, PredictOptions } from '../gliner';

/** What the batcher needs from a model: the public batch API. */
export interface BatchModel {
  batchPredictEntities(texts: readonly string[], labels: readonly (readonly string[])[], options?: PredictOptions): Promise<Entity[][]>;
}

export interface DecodeOptions {
  threshold: number;
  flatNer: boolean;
  multiLabel: boolean;
}

export interface BatcherOptions {
  /** Texts per model batch. Default 8; 1 turns batching off. */
  maxBatchSize?: number;
  /** How long the first waiting text may wait for a batch to fill. Default 5 ms. */
  maxWaitMs?: number;
  /** Texts allowed to wait; more are refused (QueueFullError). Default 256. */
  maxQueue?: number;
  /** Called after each batch (for metrics). */
  onBatch?: (size: number, seconds: number) => void;
}

/** A stable `code` for each way a job can be refused. */
export class BatcherError extends Error {
  constructor(readonly code: 'queue_full' | 'shutting_down' | 'timeout', message: string) {
    super(message);
    this.name = 'BatcherError';
  }
}

interface Job {
  texts: string[];
  labels: string[];
  options: DecodeOptions;
  key: string;
  arrived: number;
  /** Index of the next text not yet given to a batch. */
  next: number;
  /** Texts not yet answered. */
  left: number;
  results: Entity[][];
  done: boolean;
  resolve(r: Entity[][]): void;
  reject(e: Error): void;
  timer?: NodeJS.Timeout;
}

interface Item {
  job: Job;
  index: number;
}

/**
 * The next batch from waiting jobs (oldest first): texts of the oldest job's decoding options,
 * one per job in turn, until `maxBatchSize`. Exported for tests.
 */
export function planBatch(jobs: readonly { key: string; texts: readonly string[]; next: number }[], maxBatchSize: number): { job: number; index: number }[] {
  const head = jobs.find((j) => j.next < j.texts.length);
  if (!head) return [];
  const eligible = jobs.map((j, i) => ({ j, i })).filter(({ j }) => j.key === head.key && j.next < j.texts.length);
  const cursor = eligible.map(({ j }) => j.next);
  const batch: { job: number; index: number }[] = [];
  for (let progress = true; progress && batch.length < maxBatchSize; ) {
    progress = false;
    eligible.forEach(({ j, i }, k) => {
      if (batch.length < maxBatchSize && cursor[k] < j.texts.length) {
        batch.push({ job: i, index: cursor[k]++ });
        progress = true;
      }
    });
  }
  return batch;
}

export class Batcher {
  readonly maxBatchSize: number;
  readonly maxWaitMs: number;
  readonly maxQueue: number;
  private jobs: Job[] = [];
  private running = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly model: BatchModel, private readonly options: BatcherOptions = {}) {
    this.maxBatchSize = options.maxBatchSize ?? 8;
    this.maxWaitMs = options.maxWaitMs ?? 5;
    this.maxQueue = options.maxQueue ?? 256;
    if (!Number.isInteger(this.maxBatchSize) || this.maxBatchSize < 1) throw new RangeError(`maxBatchSize must be a positive integer, got ${this.maxBatchSize}`);
    if (!(this.maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be >= 0, got ${this.maxWaitMs}`);
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 1) throw new RangeError(`maxQueue must be a positive integer, got ${this.maxQueue}`);
  }

  /** Texts waiting for a batch. */
  get queueDepth(): number {
    return this.jobs.reduce((n, j) => n + j.texts.length - j.next, 0);
  }

  /** Entities for each text; rejects with BatcherError when refused or past `timeoutMs`. */
  submit(texts: string[], labels: string[], options: DecodeOptions, timeoutMs = 0): Promise<Entity[][]> {
    if (this.closed) return Promise.reject(new BatcherError('shutting_down', 'the server is shutting down'));
    if (texts.length === 0) return Promise.resolve([]);
    if (this.queueDepth + texts.length > this.maxQueue) {
      return Promise.reject(new BatcherError('queue_full', `the queue is full (${this.queueDepth} of ${this.maxQueue} texts waiting)`));
    }
    return new Promise((resolve, reject) => {
      const job: Job = {
        texts, labels, options,
        key: `${options.threshold}|${options.flatNer}|${options.multiLabel}`,
        arrived: Date.now(), next: 0, left: texts.length, results: texts.map(() => []), done: false,
        resolve, reject,
      };
      if (timeoutMs > 0) {
        job.timer = setTimeout(() => this.fail(job, new BatcherError('timeout', `the request took longer than ${timeoutMs} ms`)), timeoutMs);
        job.timer.unref?.();
      }
      this.jobs.push(job);
      this.schedule();
    });
  }

  /** Refuse new work; resolves once every accepted text is answered. */
  drain(): Promise<void> {
    this.closed = true;
    this.schedule();
    if (!this.running && this.jobs.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private fail(job: Job, e: Error): void {
    if (job.done) return;
    job.done = true;
    clearTimeout(job.timer);
    job.next = job.texts.length; // nothing more of it goes into a batch
    this.jobs = this.jobs.filter((j) => j !== job);
    job.reject(e);
    this.checkIdle();
  }

  private schedule(): void {
    if (this.running) return;
    this.jobs = this.jobs.filter((j) => !j.done && j.next < j.texts.length);
    if (this.jobs.length === 0) return this.checkIdle();
    const waited = Date.now() - this.jobs[0].arrived;
    if (this.closed || this.queueDepth >= this.maxBatchSize || waited >= this.maxWaitMs) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      void this.runBatch();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, this.maxWaitMs - waited);
    }
  }

  private async runBatch(): Promise<void> {
    this.running = true;
    const jobs = this.jobs;
    const items: Item[] = planBatch(jobs, this.maxBatchSize).map(({ job, index }) => ({ job: jobs[job], index }));
    for (const it of items) it.job.next = Math.max(it.job.next, it.index + 1);
    const t0 = process.hrtime.bigint();
    try {
      const out = await this.predict(items);
      items.forEach((it, k) => this.answer(it, out[k]));
    } catch (e) {
      // Retry one text at a time so one failing text (e.g. out of memory) fails only its request.
      for (const it of items) {
        if (it.job.done) continue;
        try {
          this.answer(it, (await this.predict([it]))[0]);
        } catch (err) {
          this.fail(it.job, err as Error);
        }
      }
    }
    this.options.onBatch?.(items.length, Number(process.hrtime.bigint() - t0) / 1e9);
    this.running = false;
    // Let responses go out (and new requests come in) before the next batch.
    setImmediate(() => this.schedule());
  }

  private predict(items: Item[]): Promise<Entity[][]> {
    const { options } = items[0].job;
    return this.model.batchPredictEntities(
      items.map((it) => it.job.texts[it.index]),
      items.map((it) => it.job.labels),
      { ...options, batchSize: this.maxBatchSize },
    );
  }

  private answer(it: Item, entities: Entity[]): void {
    const job = it.job;
    if (job.done) return;
    job.results[it.index] = entities;
    if (--job.left === 0) {
      job.done = true;
      clearTimeout(job.timer);
      job.resolve(job.results);
    }
  }

  private checkIdle(): void {
    if (this.running || this.jobs.some((j) => !j.done)) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    waiters.forEach((w) => w());
  }
}
