/**
 * Soak test (not run in CI): many predictions through one model, reporting live tensors and
 * resident memory as it goes, so that a slow leak shows up as a trend rather than a crash.
 *
 *   npx ts-node --transpile-only tools/soak.ts [--model DIR] [--n 10000] [--batch 1] [--concurrency 4]
 *
 * It exits non-zero if the tensor count grows, or if RSS after the first 10% of the run grows
 * by more than 10% (a warmed-up process should be flat).
 */
import { parseArgs } from 'util';
import * as tf from '@tensorflow/tfjs';
import { GLiNER } from '../src/gliner';
import { initBackend } from '../src/backend';

const TEXTS = [
  'Alice Martin visited Paris on 3 May 2021.',
  'Bob Chen moved to Tokyo with Marie Curie and founded Acme Corp. in 2019.',
  'Toyota signed with Juventus in Cairo last week, said Dr. Ada Lovelace.',
  'Le 14 juillet, Chloé Dubois a rencontré Jürgen Müller à São Paulo.',
  '東京で山田太郎に会った。',
  '',
  'Call +44 123-456 before 9:30 on 31/12/2024 or pay £5.99 & ¥300.',
];
const LABELS = ['person', 'city', 'organization', 'date'];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'fixtures/reference/tiny_buckets256' },
      n: { type: 'string', default: '10000' },
      batch: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '4' },
      backend: { type: 'string', default: 'auto' },
    },
  });
  const n = Number(values.n);
  const batch = Number(values.batch);
  const concurrency = Number(values.concurrency);
  const backend = await initBackend(values.backend as 'auto');
  const model = await GLiNER.fromPretrained(values.model!, { onWarning: () => {} });
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const sample = (done: number) => ({ done, tensors: tf.memory().numTensors, rssMiB: mib(process.memoryUsage().rss), heapMiB: mib(process.memoryUsage().heapUsed) });
  console.log(`soak: ${n} predictions, batch ${batch}, ${concurrency} concurrent callers, backend ${backend.name}, model ${values.model}`);
  const start = sample(0);
  console.log(JSON.stringify(start));
  let done = 0;
  let warm: ReturnType<typeof sample> | null = null;
  const t0 = Date.now();
  // `concurrency` async callers share the model, as a server's request handlers would.
  const worker = async (id: number) => {
    for (let i = id; i * batch < n; i += concurrency) {
      const texts = Array.from({ length: batch }, (_, k) => TEXTS[(i * batch + k) % TEXTS.length]);
      await model.batchPredictEntities(texts, LABELS, { threshold: 0.5 });
      done += batch;
      if (!warm && done >= n / 10) warm = sample(done);
      if (done % Math.max(1, Math.floor(n / 10)) < batch) console.log(JSON.stringify(sample(done)));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, id) => worker(id)));
  const end = sample(done);
  const seconds = (Date.now() - t0) / 1000;
  console.log(JSON.stringify(end));
  const w = warm ?? start;
  const rssGrowth = Number(end.rssMiB) / Number(w.rssMiB) - 1;
  console.log(
    `summary: ${done} predictions in ${seconds.toFixed(1)} s (${(done / seconds).toFixed(1)}/s); tensors ${start.tensors} -> ${end.tensors}; ` +
      `RSS ${start.rssMiB} MiB at start, ${w.rssMiB} MiB after ${w.done}, ${end.rssMiB} MiB at end (${(rssGrowth * 100).toFixed(1)}% after warm-up)`,
  );
  model.dispose();
  if (end.tensors !== start.tensors || rssGrowth > 0.1) {
    console.error('soak: FAILED (tensor count or memory grew)');
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
