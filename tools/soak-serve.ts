/**
 * Soak test of `gliner-tf serve`: a steady request rate for a fixed time, the server's resident
 * memory sampled from its own /metrics (process_resident_memory_bytes) every interval. Flat RSS
 * after warm-up means nothing accumulates per request (tensors, queues, metrics, sockets).
 *
 *   npx ts-node --transpile-only tools/soak-serve.ts --model fixtures/models/demo [--minutes 10] [--rate 10] [--connections 4]
 *
 * Prints one line per sample and a summary (RSS after the first minute vs at the end, the
 * largest, requests and errors). The server runs in a child process on 127.0.0.1.
 */
import { startServeChild } from './serve-child';
import { parseArgs } from 'util';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const autocannon = require('autocannon');

const TEXTS = [
  'Kalo Dorvasel joined Tavosel Labs in Mirenburg on 4 May 2021.',
  'On 3 June 2020 Pera Vask met Lomi Trask of Dorvo Group in Kestel, then flew to Varnholm with Sela Moritz.',
  'Mirenburg',
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      minutes: { type: 'string', default: '10' },
      rate: { type: 'string', default: '10' },
      connections: { type: 'string', default: '4' },
      every: { type: 'string', default: '30' },
    },
  });
  if (!values.model) throw new Error('--model is required');
  const server = await startServeChild(['--model', values.model]);
  const url = server.url;
  const rssMb = async (): Promise<number> => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = /^process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
    if (!m) throw new Error('no process_resident_memory_bytes in /metrics');
    return Number(m[1]) / 2 ** 20;
  };
  const seconds = Number(values.minutes) * 60;
  const samples: { t: number; rss: number }[] = [{ t: 0, rss: await rssMb() }];
  const start = Date.now();
  const timer = setInterval(async () => {
    const s = { t: Math.round((Date.now() - start) / 1000), rss: await rssMb() };
    samples.push(s);
    process.stderr.write(`t=${s.t}s rss=${s.rss.toFixed(1)} MB\n`);
  }, Number(values.every) * 1000);
  const result = await autocannon({
    url: `${url}/v1/entities`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections: Number(values.connections),
    overallRate: Number(values.rate),
    duration: seconds,
    requests: TEXTS.map((text) => ({ body: JSON.stringify({ text, labels: ['person', 'organization', 'city', 'date'] }) })),
  });
  clearInterval(timer);
  samples.push({ t: seconds, rss: await rssMb() });
  await server.stop();
  const afterWarmup = samples.find((s) => s.t >= 60) ?? samples[samples.length - 1];
  const end = samples[samples.length - 1];
  const max = Math.max(...samples.map((s) => s.rss));
  console.log(
    `soak: ${values.minutes} min at ${values.rate} req/s over ${values.connections} connections against ${values.model}: ` +
      `${result.requests.total} requests, ${result.non2xx} non-2xx, ${result.errors} errors, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms; ` +
      `server RSS ${samples[0].rss.toFixed(1)} MB at start, ${afterWarmup.rss.toFixed(1)} MB after ${afterWarmup.t} s, ${end.rss.toFixed(1)} MB at the end (max ${max.toFixed(1)} MB)`,
  );
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
