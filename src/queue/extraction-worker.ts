/**
 * A BullMQ worker that predicts chunks of a CorpusQueue with a GLiNER model. Results go into the
 * results hash by document id (so a chunk redelivered after a stall or a retry writes the same
 * entries: exactly-once output). A document that cannot be predicted (too large, bad fields, a
 * prediction error) fails alone: the others of its chunk are stored, its error is kept under its
 * id, and the chunk's job fails (no automatic retries: the cause is in the data) naming it.
 * `CorpusQueue.retryFailed()` (gliner-tf queue retry) puts such jobs back.
 */
import { EventEmitter } from 'events';
import { Job, UnrecoverableError, Worker } from 'bullmq';
import IORedis from 'ioredis';
import type { GLiNER } from '../gliner';
import { ChunkData, DEFAULT_QUEUE_NAME, QueueConnection, QueueDoc, RATE_BUCKET_MS, connect, queueKeys } from './corpus-queue';

export interface ExtractionWorkerOptions extends QueueConnection {
  model: GLiNER;
  /** Texts per forward pass (default 8). */
  batchSize?: number;
  /** Longest document accepted, in characters (default 1,000,000; longer ones fail alone). */
  maxDocChars?: number;
  /** ms a job's lock lasts without renewal (default 30000): a dead worker's chunk is free after it. */
  lockDuration?: number;
  /** ms between checks for stalled jobs (default 30000). */
  stalledInterval?: number;
  /** Stalls a job may have before it is failed (default 3). */
  maxStalledCount?: number;
}

export interface ChunkEvent {
  jobId: string;
  documents: number;
  failed: number;
  skipped: number;
}

/**
 * Events: 'started' (jobId), 'chunk' (ChunkEvent, after a chunk's results are stored),
 * 'stalled' (jobId, a chunk whose worker stopped, queued again), 'error' (Error: Redis
 * connection problems and the like; the worker keeps going and reconnects).
 */
export class ExtractionWorker extends EventEmitter {
  private readonly worker: Worker;
  private readonly conn: IORedis;
  private readonly owned: boolean;
  private readonly keys: ReturnType<typeof queueKeys>;

  constructor(private readonly o: ExtractionWorkerOptions) {
    super();
    const name = o.name ?? DEFAULT_QUEUE_NAME;
    const prefix = o.prefix ?? 'bull';
    ({ conn: this.conn, owned: this.owned } = connect(o.redis));
    this.keys = queueKeys(name, prefix);
    this.worker = new Worker(name, (job) => this.process(job), {
      connection: this.conn,
      prefix,
      concurrency: 1,
      lockDuration: o.lockDuration ?? 30000,
      stalledInterval: o.stalledInterval ?? 30000,
      maxStalledCount: o.maxStalledCount ?? 3,
    });
    this.worker.on('error', (e) => this.emit('error', e));
    this.worker.on('stalled', (jobId) => this.emit('stalled', jobId));
  }

  private async process(job: Job<ChunkData>): Promise<ChunkEvent> {
    const jobId = String(job.id);
    this.emit('started', jobId);
    const data = job.data;
    const docs = Array.isArray(data?.docs) ? data.docs : [];
    const maxChars = this.o.maxDocChars ?? 1_000_000;
    const done = docs.length ? await this.conn.hmget(this.keys.results, ...docs.map((d) => String(d?.id))) : [];
    const failures: [string, string][] = [];
    const todo: { doc: QueueDoc; labels: string[] }[] = [];
    let skipped = 0;
    docs.forEach((d, i) => {
      if (done[i] !== null) return void skipped++; // done by an earlier delivery
      const why = validate(d, data.labels, maxChars);
      if (typeof why === 'string') failures.push([String(d?.id ?? `job ${jobId} document ${i + 1}`), why]);
      else todo.push({ doc: d, labels: why });
    });
    const batch = Math.max(1, (this.o.batchSize ?? 8) * 4);
    const opts = { threshold: data.threshold, flatNer: data.flatNer, multiLabel: data.multiLabel, batchSize: this.o.batchSize ?? 8 };
    for (let s = 0; s < todo.length; s += batch) {
      const part = todo.slice(s, s + batch);
      let results: (unknown[] | Error)[];
      try {
        results = await this.o.model.batchPredictEntities(part.map((p) => p.doc.text), part.map((p) => p.labels), opts);
      } catch {
        // one bad document must not fail its neighbours: predict them one by one
        results = [];
        for (const p of part) results.push(await this.o.model.batchPredictEntities([p.doc.text], [p.labels], opts).then((r) => r[0], (e: Error) => e));
      }
      const m = this.conn.multi();
      let ok = 0;
      part.forEach((p, i) => {
        const r = results[i];
        if (r instanceof Error) failures.push([p.doc.id, r.message]);
        else {
          m.hset(this.keys.results, p.doc.id, JSON.stringify(r));
          m.hdel(this.keys.errors, p.doc.id);
          ok++;
        }
      });
      const bucket = this.keys.rate(Math.floor(Date.now() / RATE_BUCKET_MS));
      m.incrby(bucket, ok);
      m.expire(bucket, 600);
      await m.exec();
      // let BullMQ renew the lock between forward passes
      await new Promise((r) => setImmediate(r));
    }
    if (failures.length) {
      const m = this.conn.multi();
      for (const [id, e] of failures) m.hset(this.keys.errors, id, e);
      await m.exec();
      const list = failures.slice(0, 5).map(([id, e]) => `${id}: ${e}`).join('; ');
      throw new UnrecoverableError(`${failures.length} of ${docs.length} documents failed: ${list}${failures.length > 5 ? '; ...' : ''}`);
    }
    const ev = { jobId, documents: docs.length, failed: 0, skipped };
    this.emit('chunk', ev);
    return ev;
  }

  /** Waits for the current chunk, then stops. */
  async close(): Promise<void> {
    await this.worker.close();
    if (this.owned) await this.conn.quit().catch(() => this.conn.disconnect());
  }
}

/** The document's labels, or why it cannot be predicted. */
function validate(d: unknown, fallback: string[] | undefined, maxChars: number): string[] | string {
  if (typeof d !== 'object' || d === null) return 'not an object with id and text';
  const doc = d as Record<string, unknown>;
  if (typeof doc.id !== 'string' || doc.id === '') return 'key "id" must be a non-empty string';
  if (typeof doc.text !== 'string') return 'key "text" must be a string';
  if (doc.text.length > maxChars) return `text of ${doc.text.length} characters, more than the worker's limit of ${maxChars} (--max-doc-chars)`;
  const labels = doc.labels ?? fallback;
  if (!Array.isArray(labels) || labels.length === 0 || !labels.every((l) => typeof l === 'string' && l !== '')) return 'no labels: give "labels" in the document or --labels at push';
  return labels as string[];
}
