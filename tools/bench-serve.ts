/**
 * Load test of `gliner-tf serve` with autocannon: throughput and p50 / p99 latency at 1, 4 and 16
 * concurrent clients, dynamic batching on (--max-batch-size 8) vs off (1). The server runs in a
 * child process so the load generator does not share its event loop.
 *
 *   npx ts-node --transpile-only tools/make-random-model.ts --family gliner_small-v2.1 --output /tmp/small
 *   npx ts-node --transpile-only tools/bench-serve.ts --model /tmp/small [--duration 15]
 */
import { ServeChild, startServeChild } from './serve-child';
import { parseArgs } from 'util';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const autocannon = require('autocannon');

const TEXTS = [
  'Kalo Dorvasel joined Tavosel Labs in Mirenburg on 4 May 2021.',
  'On 3 June 2020 Pera Vask met Lomi Trask of Dorvo Group in Kestel, then flew to Varnholm with Sela Moritz.',
  'Cristiano Ronaldo won the Ballon d\'Or in 2008.',
];

function serve(model: string, batch: number): Promise<ServeChild> {
  return startServeChild(['--model', model, '--max-batch-size', String(batch), '--max-wait-ms', batch > 1 ? '5' : '0', '--max-queue', '4096']);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { model: { type: 'string' }, duration: { type: 'string', default: '15' } } });
  if (!values.model) throw new Error('--model is required');
  console.log('| batching | clients | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|');
  for (const batch of [8, 1]) {
    const s = await serve(values.model, batch);
    for (const connections of [1, 4, 16]) {
      const r = await autocannon({
        url: `${s.url}/v1/entities`,
        method: 'POST',
        connections,
        duration: Number(values.duration),
        requests: TEXTS.map((t) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: t, labels: ['person', 'organization', 'city', 'date'] }) })),
      });
      console.log(`| ${batch > 1 ? `on (max ${batch})` : 'off'} | ${connections} | ${r.requests.average.toFixed(1)} | ${r.latency.p50} | ${r.latency.p99} | ${r.errors + r.non2xx} |`);
    }
    await s.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
