/**
 * `gliner-tf queue push|status|export|retry` and `gliner-tf worker`: corpus extraction through a
 * BullMQ queue on Redis (src/queue/), workers on any number of machines.
 */
import { GLiNER } from '../src/gliner';
import { BackendPreference } from '../src/backend';
import { CorpusQueue, QueueDoc } from '../src/queue/corpus-queue';
import { ExtractionWorker } from '../src/queue/extraction-worker';
import { openAtomicFileStream } from '../src/io/atomic-stream';
import { DEFAULT_MAX_LINE_BYTES, readFileLines } from '../src/io/line-reader';
import { UsageError, numberOption, parseCommand, requireOption } from './cli-args';

export const QUEUE_HELP = `Usage: gliner-tf queue <push|status|export|retry> --redis URL [options]

  push    --input FILE [--id-field KEY] [--labels LIST] [--threshold X] [--nested]
          [--multi-label] [--chunk-size N]   enqueue documents (JSONL or plain text, gzip
          read as such; plain text ids are line numbers); idempotent by id
  status  [--json]                           documents done / failed / pending, jobs, docs/s, ETA
  export  --output FILE [--errors FILE]      one {"id", "entities"} line per done document, in
                                             push order; --errors: {"id", "error"} lines
  retry                                      failed jobs back to the queue

Common: --redis URL (redis://host:port) [required], --queue NAME [default: gliner-tf]`;

export const WORKER_HELP = `Usage: gliner-tf worker --redis URL --model DIR|REPO [options]

Predicts chunks of the queue until stopped (SIGTERM/SIGINT finish the current chunk first).
  --queue NAME            [default: gliner-tf]
  --batch-size N          texts per forward pass                  [default: 8]
  --max-doc-chars N       longer documents fail alone             [default: 1000000]
  --lock-duration MS      a dead worker's chunk is taken up after this   [default: 30000]
  --stalled-interval MS   how often stalled chunks are looked for [default: 30000]
  --backend NAME          auto | tensorflow | wasm | cpu          [default: auto]
  --quiet                 no log lines on standard error`;

const COMMON = { redis: { type: 'string' }, queue: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

async function* readDocs(file: string, idField: string | undefined) {
  let jsonl: boolean | null = null;
  for await (const { text: line, lineNo } of readFileLines(file, { maxLineBytes: DEFAULT_MAX_LINE_BYTES })) {
    const where = `${file}:${lineNo}`;
    if (jsonl === null && line.trim() !== '') jsonl = line.trimStart().startsWith('{');
    if (!jsonl) {
      yield { id: String(lineNo), text: line, where };
      continue;
    }
    if (line.trim() === '') continue;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch (e) {
      yield { where, error: `${where}: invalid JSON (${(e as Error).message})` };
      continue;
    }
    if (typeof r !== 'object' || r === null || Array.isArray(r)) yield { where, error: `${where}: expected a JSON object` };
    else if (typeof r.text !== 'string') yield { where, error: `${where}: key "text" must be a string` };
    else if (idField && (typeof r[idField] !== 'string' && typeof r[idField] !== 'number')) yield { where, error: `${where}: key "${idField}" (--id-field) must be a string or number` };
    else if (r.labels !== undefined && (!Array.isArray(r.labels) || r.labels.length === 0 || !r.labels.every((l) => typeof l === 'string'))) yield { where, error: `${where}: key "labels" must be a non-empty list of strings` };
    else yield { id: idField ? String(r[idField]) : String(lineNo), text: r.text, labels: r.labels as string[] | undefined, where } as QueueDoc & { where: string };
  }
}

export async function runQueue(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '-h' || sub === '--help') {
    out.write(QUEUE_HELP + '\n');
    return;
  }
  const values = parseCommand(rest, {
    ...COMMON,
    input: { type: 'string' }, 'id-field': { type: 'string' }, labels: { type: 'string' }, threshold: { type: 'string' },
    nested: { type: 'boolean' }, 'multi-label': { type: 'boolean' }, 'chunk-size': { type: 'string' },
    json: { type: 'boolean' }, output: { type: 'string' }, errors: { type: 'string' },
  });
  if (values.help) return void out.write(QUEUE_HELP + '\n');
  if (!['push', 'status', 'export', 'retry'].includes(sub)) throw new UsageError(`unknown queue command '${sub}' (push, status, export, retry)`);
  const q = new CorpusQueue({ redis: requireOption(values, 'redis'), name: values.queue as string | undefined });
  try {
    if (sub === 'push') {
      const input = requireOption(values, 'input');
      const labels = values.labels === undefined ? undefined : String(values.labels).split(',').map((l) => l.trim()).filter(Boolean);
      const r = await q.push(readDocs(input, values['id-field'] as string | undefined), {
        labels,
        threshold: numberOption(values, 'threshold', 0.5, (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
        flatNer: !values.nested,
        multiLabel: Boolean(values['multi-label']),
        chunkSize: numberOption(values, 'chunk-size', 64, (v) => Number.isInteger(v) && v >= 1, 'a positive integer'),
      });
      out.write(`pushed ${r.pushed} documents in ${r.chunks} chunks${r.skipped ? `, ${r.skipped} already done` : ''}\n`);
      for (const x of r.rejected.slice(0, 20)) process.stderr.write(`gliner-tf queue push: rejected ${x.error}\n`);
      if (r.rejected.length) process.stderr.write(`gliner-tf queue push: ${r.rejected.length} lines rejected (recorded as failed; see queue status / export --errors)\n`);
    } else if (sub === 'status') {
      const s = await q.status();
      if (values.json) out.write(JSON.stringify(s) + '\n');
      else {
        const d = s.documents;
        out.write(`documents: ${d.done} done, ${d.failed} failed, ${d.pending} pending of ${d.total}\n`);
        out.write(`chunks: ${s.jobs.waiting} waiting, ${s.jobs.active} active, ${s.jobs.delayed} delayed, ${s.jobs.failed} failed\n`);
        out.write(`rate: ${s.docsPerSecond === null ? '-' : `${s.docsPerSecond.toFixed(1)} docs/s`}, ETA: ${s.etaSeconds === null ? '-' : `${Math.ceil(s.etaSeconds)} s`}\n`);
      }
    } else if (sub === 'export') {
      const sink = await openAtomicFileStream(requireOption(values, 'output'));
      let n = 0;
      try {
        for await (const r of q.results()) {
          await sink.write(JSON.stringify(r) + '\n');
          n++;
        }
        await sink.commit();
      } catch (e) {
        await sink.abort();
        throw e;
      }
      const errors = await q.errors();
      if (values.errors) {
        const es = await openAtomicFileStream(values.errors as string);
        for (const e of errors) await es.write(JSON.stringify(e) + '\n');
        await es.commit();
      }
      process.stderr.write(`exported ${n} documents${errors.length ? `; ${errors.length} failed` : ''}\n`);
    } else {
      out.write(`${await q.retryFailed()} failed chunks queued again\n`);
    }
  } finally {
    await q.close();
  }
}

export async function runWorker(argv: string[]): Promise<void> {
  const values = parseCommand(argv, {
    ...COMMON, model: { type: 'string' }, 'batch-size': { type: 'string' }, 'max-doc-chars': { type: 'string' },
    'lock-duration': { type: 'string' }, 'stalled-interval': { type: 'string' }, backend: { type: 'string' }, quiet: { type: 'boolean' },
  });
  if (values.help) return void process.stdout.write(WORKER_HELP + '\n');
  const redis = requireOption(values, 'redis');
  const modelDir = requireOption(values, 'model');
  const int = (name: string, d: number) => numberOption(values, name, d, (v) => Number.isInteger(v) && v >= 1, 'a positive integer');
  const model = await GLiNER.fromPretrained(modelDir, { backend: (values.backend ?? 'auto') as BackendPreference, onWarning: () => {}, quiet: true });
  const log = values.quiet ? () => {} : (m: string) => process.stderr.write(`gliner-tf worker ${process.pid}: ${m}\n`);
  const w = new ExtractionWorker({
    redis, name: values.queue as string | undefined, model,
    batchSize: int('batch-size', 8), maxDocChars: int('max-doc-chars', 1_000_000),
    lockDuration: int('lock-duration', 30000), stalledInterval: int('stalled-interval', 30000),
  });
  w.on('started', (id) => log(`chunk ${id} started`));
  w.on('chunk', (e) => log(`chunk ${e.jobId} done (${e.documents} documents${e.skipped ? `, ${e.skipped} done before` : ''})`));
  w.on('stalled', (id) => log(`chunk ${id} stalled (its worker stopped); queued again`));
  w.on('error', (e: Error) => log(`redis: ${e.message} (retrying)`));
  log('ready');
  await new Promise<void>((resolve) => {
    const stop = () => void w.close().then(resolve);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  model.dispose();
}
