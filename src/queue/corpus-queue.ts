/**
 * A corpus in a BullMQ queue on Redis: documents pushed in chunks (one job per chunk), results
 * stored in a Redis hash keyed by document id, so a chunk delivered twice (a stalled worker, a
 * retry) writes the same entries again: at-least-once delivery, exactly-once output.
 *
 *   <prefix>:<name>:gtf:order    list of document ids in push order (export order)
 *   <prefix>:<name>:gtf:ids      hash id -> "run|where" (first push of each id)
 *   <prefix>:<name>:gtf:results  hash id -> entities JSON
 *   <prefix>:<name>:gtf:errors   hash id (or FILE:LINE for a line that has no id) -> error
 *   <prefix>:<name>:gtf:rate:<t> documents done in 5-second bucket t (expire after 10 minutes)
 */
import { createHash, randomUUID } from 'crypto';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import type { Entity } from '../decoding';

export interface QueueDoc {
  id: string;
  text: string;
  labels?: string[];
}

export interface ChunkData {
  docs: QueueDoc[];
  /** Labels for documents without their own. */
  labels?: string[];
  threshold?: number;
  flatNer?: boolean;
  multiLabel?: boolean;
}

export interface QueueConnection {
  /** redis://host:port/db, or an ioredis instance (not closed by us). */
  redis: string | IORedis;
  /** Queue name (default 'gliner-tf'). */
  name?: string;
  /** BullMQ key prefix (default 'bull'). */
  prefix?: string;
}

export const DEFAULT_QUEUE_NAME = 'gliner-tf';
export const RATE_BUCKET_MS = 5000;

export function connect(redis: string | IORedis): { conn: IORedis; owned: boolean } {
  if (typeof redis !== 'string') return { conn: redis, owned: false };
  // BullMQ workers need maxRetriesPerRequest: null (commands wait for a reconnect instead of failing).
  return { conn: new IORedis(redis, { maxRetriesPerRequest: null }), owned: true };
}

export function queueKeys(name: string, prefix: string) {
  const base = `${prefix}:${name}:gtf:`;
  return { order: base + 'order', ids: base + 'ids', results: base + 'results', errors: base + 'errors', rate: (t: number) => `${base}rate:${t}` };
}

/** Registers ids atomically; returns per id 'new', 'old' or 'dup:<where of the first>'. */
const REGISTER = `
local out = {}
for i = 2, #ARGV, 2 do
  local id, where = ARGV[i], ARGV[i + 1]
  local v = redis.call('HGET', KEYS[1], id)
  if not v then
    redis.call('HSET', KEYS[1], id, ARGV[1] .. '|' .. where)
    redis.call('RPUSH', KEYS[2], id)
    out[#out + 1] = 'new'
  elseif string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
    out[#out + 1] = 'dup:' .. string.sub(v, #ARGV[1] + 2)
  else
    out[#out + 1] = 'old'
  end
end
return out`;

export interface PushOptions extends Omit<ChunkData, 'docs'> {
  /** Documents per job (default 64). */
  chunkSize?: number;
  /** Attempts per job before it is failed (default 3; deterministic document errors fail at once). */
  attempts?: number;
}

export interface PushResult {
  pushed: number;
  /** Pushed before and already done (a re-run of push). */
  skipped: number;
  chunks: number;
  /** Documents refused at push (duplicate ids, lines without a usable record). */
  rejected: { where: string; error: string }[];
}

export interface QueueStatus {
  documents: { total: number; done: number; failed: number; pending: number };
  jobs: { waiting: number; active: number; delayed: number; failed: number };
  /** Documents per second over the last minute, or null when nothing was done in it. */
  docsPerSecond: number | null;
  etaSeconds: number | null;
}

/** The client side: push documents, follow progress, read results and errors, retry failures. */
export class CorpusQueue {
  readonly name: string;
  readonly prefix: string;
  private readonly conn: IORedis;
  private readonly owned: boolean;
  private readonly queue: Queue;
  private readonly keys: ReturnType<typeof queueKeys>;

  constructor(c: QueueConnection) {
    this.name = c.name ?? DEFAULT_QUEUE_NAME;
    this.prefix = c.prefix ?? 'bull';
    ({ conn: this.conn, owned: this.owned } = connect(c.redis));
    this.queue = new Queue(this.name, { connection: this.conn, prefix: this.prefix });
    this.keys = queueKeys(this.name, this.prefix);
  }

  /**
   * Enqueues documents (with `where`, e.g. FILE:LINE, for messages). Idempotent by id: a
   * document pushed before is not registered again, and queued again only if it has no result.
   * A record given as an Error (a bad input line) is recorded as a failed document.
   */
  async push(docs: AsyncIterable<(QueueDoc & { where?: string }) | { where: string; error: string }>, o: PushOptions = {}): Promise<PushResult> {
    const chunkSize = o.chunkSize ?? 64;
    const run = randomUUID();
    const res: PushResult = { pushed: 0, skipped: 0, chunks: 0, rejected: [] };
    let chunk: (QueueDoc & { where?: string })[] = [];
    const flush = async () => {
      if (chunk.length === 0) return;
      const args: string[] = [run];
      for (const d of chunk) args.push(d.id, d.where ?? d.id);
      const states = (await this.conn.eval(REGISTER, 2, this.keys.ids, this.keys.order, ...args)) as string[];
      const done = (await this.conn.hmget(this.keys.results, ...chunk.map((d) => d.id))) as (string | null)[];
      const queued: QueueDoc[] = [];
      chunk.forEach((d, i) => {
        const s = states[i];
        if (s.startsWith('dup:')) res.rejected.push({ where: d.where ?? d.id, error: `duplicate id '${d.id}' (first at ${s.slice(4)})` });
        else if (s === 'old' && done[i] !== null) res.skipped++;
        else queued.push({ id: d.id, text: d.text, ...(d.labels ? { labels: d.labels } : {}) });
      });
      if (queued.length) {
        const data: ChunkData = { docs: queued, labels: o.labels, threshold: o.threshold, flatNer: o.flatNer, multiLabel: o.multiLabel };
        // Same content, same job id: BullMQ ignores a second add while the first is stored.
        const jobId = 'c-' + createHash('sha1').update(JSON.stringify(data)).digest('hex');
        await this.queue.add('chunk', data, { jobId, attempts: o.attempts ?? 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: true, removeOnFail: false });
        res.pushed += queued.length;
        res.chunks++;
      }
      chunk = [];
    };
    for await (const d of docs) {
      if ('error' in d) {
        res.rejected.push(d);
        continue;
      }
      chunk.push(d);
      if (chunk.length >= chunkSize) await flush();
    }
    await flush();
    if (res.rejected.length) {
      const m = this.conn.multi();
      for (const r of res.rejected) m.hset(this.keys.errors, r.where, r.error);
      await m.exec();
    }
    return res;
  }

  async status(): Promise<QueueStatus> {
    const [total, done, failed] = await Promise.all([this.conn.hlen(this.keys.ids), this.conn.hlen(this.keys.results), this.conn.hlen(this.keys.errors)]);
    const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized', 'paused');
    const now = Math.floor(Date.now() / RATE_BUCKET_MS);
    const buckets = await this.conn.mget(...Array.from({ length: 12 }, (_, i) => this.keys.rate(now - i)));
    const recent = buckets.reduce((s, b) => s + Number(b ?? 0), 0);
    const pending = Math.max(0, total - done - failed);
    const rate = recent > 0 ? recent / ((12 * RATE_BUCKET_MS) / 1000) : null;
    return {
      documents: { total, done, failed, pending },
      jobs: { waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.paused ?? 0), active: counts.active ?? 0, delayed: counts.delayed ?? 0, failed: counts.failed ?? 0 },
      docsPerSecond: rate,
      etaSeconds: rate ? pending / rate : null,
    };
  }

  /** Results in push order, one per document that has one. */
  async *results(pageSize = 1000): AsyncGenerator<{ id: string; entities: Entity[] }> {
    for (let start = 0; ; start += pageSize) {
      const ids = await this.conn.lrange(this.keys.order, start, start + pageSize - 1);
      if (ids.length === 0) return;
      const values = await this.conn.hmget(this.keys.results, ...ids);
      for (let i = 0; i < ids.length; i++) if (values[i] !== null) yield { id: ids[i], entities: JSON.parse(values[i]!) };
    }
  }

  /** Failed documents (by id, or FILE:LINE for input lines rejected at push) and their errors. */
  async errors(): Promise<{ id: string; error: string }[]> {
    const all = await this.conn.hgetall(this.keys.errors);
    return Object.entries(all).map(([id, error]) => ({ id, error }));
  }

  /** Failed jobs back to waiting (their errors stay until a worker succeeds). */
  async retryFailed(): Promise<number> {
    const failed = await this.queue.getFailed(0, -1);
    for (const j of failed) await j.retry('failed');
    return failed.length;
  }

  /** The failed jobs' reasons (BullMQ keeps them with the job). */
  async failedJobs(): Promise<{ jobId: string; reason: string; documents: number }[]> {
    const failed = await this.queue.getFailed(0, -1);
    return failed.map((j) => ({ jobId: String(j.id), reason: j.failedReason, documents: (j.data as ChunkData).docs.length }));
  }

  async close(): Promise<void> {
    await this.queue.close();
    if (this.owned) await this.conn.quit().catch(() => this.conn.disconnect());
  }
}
