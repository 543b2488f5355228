/**
 * The streaming prediction pipeline behind `gliner-tf predict --input`:
 *
 *   records (async, one at a time) -> groups bounded by count AND characters -> predict -> write
 *
 * Memory holds at most `concurrency` groups and their results, whatever the input's size; output
 * is written group by group, in input order. `predict` is the seam for parallelism: a worker
 * pool can take groups concurrently (`concurrency` > 1), results are still written in order.
 */
import type { Entity } from '../decoding';
import type { ResultWriter } from '../output/formats';

export interface GroupLimits {
  /** Most records per group. */
  maxRecords: number;
  /** Most characters of text per group (a group always holds at least one record). */
  maxChars: number;
}

/** Consecutive records grouped under both limits. */
export async function* groupRecords<R extends { text: string }>(records: AsyncIterable<R> | Iterable<R>, limits: GroupLimits): AsyncGenerator<R[]> {
  let group: R[] = [];
  let chars = 0;
  for await (const r of records) {
    if (group.length > 0 && (group.length >= limits.maxRecords || chars + r.text.length > limits.maxChars)) {
      yield group;
      group = [];
      chars = 0;
    }
    group.push(r);
    chars += r.text.length;
  }
  if (group.length > 0) yield group;
}

export interface PredictStreamOptions<R extends { text: string }> {
  records: AsyncIterable<R> | Iterable<R>;
  limits: GroupLimits;
  /** Entities for each record of a group, in order. */
  predict: (group: R[]) => Promise<Entity[][]>;
  /** Serialises result records (formats.ts createResultWriter). */
  writer: ResultWriter;
  /** Appends text to the output (and waits for it to be accepted). */
  write: (text: string) => Promise<void>;
  /** Groups predicted at once (default 1). */
  concurrency?: number;
  /** Called after each group is written, with its size. */
  onGroup?: (records: number) => void;
}

/** Runs the pipeline to the end; returns the number of records. */
export async function runPredictStream<R extends { text: string }>(o: PredictStreamOptions<R>): Promise<number> {
  const concurrency = o.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${String(concurrency)}`);
  let total = 0;
  const inFlight: { group: R[]; result: Promise<Entity[][]> }[] = [];
  const drainOne = async () => {
    const { group, result } = inFlight.shift()!;
    const entities = await result;
    await o.write(o.writer.write(group.map((r, i) => ({ text: r.text, entities: entities[i] }))));
    total += group.length;
    o.onGroup?.(group.length);
  };
  await o.write(o.writer.begin());
  try {
    for await (const group of groupRecords(o.records, o.limits)) {
      const result = o.predict(group);
      result.catch(() => {}); // awaited in order below; avoid an unhandled rejection meanwhile
      inFlight.push({ group, result });
      if (inFlight.length >= concurrency) await drainOne();
    }
    while (inFlight.length) await drainOne();
  } finally {
    // on failure, let the others settle before the caller disposes the model
    await Promise.allSettled(inFlight.map((f) => f.result));
  }
  await o.write(o.writer.end());
  return total;
}
