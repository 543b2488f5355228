/**
 * `gliner-tf serve`: the HTTP NER service (src/serve/app.ts) on a model folder or hub id.
 * SIGTERM / SIGINT stop accepting requests, finish the accepted ones, then exit 0.
 */
import { startServer } from '../src/serve/app';
import { BackendPreference } from '../src/backend';
import { UsageError, numberOption, parseCommand, requireOption } from './cli-args';

export const SERVE_HELP = `Usage: gliner-tf serve --model DIR|REPO [--port 8080] [--host 127.0.0.1] [options]

Serve entity recognition over HTTP, with dynamic batching and a demo page at /.

  --model DIR|REPO       model folder or Hugging Face repo id                      [required]
  --host HOST            address to listen on                              [default: 127.0.0.1]
  --port N               port (0: any free port)                                [default: 8080]
  --backend NAME         auto | tensorflow | wasm | cpu                          [default: auto]
  --max-batch-size N     texts per model batch (1 turns batching off)              [default: 8]
  --max-wait-ms N        how long a text may wait for its batch to fill           [default: 5]
  --max-queue N          texts allowed to wait; more get 503 + Retry-After        [default: 256]
  --timeout-ms N         per-request timeout, 504 after it (0: none)           [default: 30000]
  --body-limit N         request body limit in bytes, 413 over it            [default: 1048576]
  --max-texts N          texts per request, 413 over it                           [default: 64]
  --max-text-length N    characters per text, 413 over it                      [default: 20000]
  --max-labels N         labels per request, 413 over it                          [default: 64]
  --cors ORIGIN          allow browser calls from ORIGIN (repeatable, or comma-separated)
  --drain-timeout-ms N   on SIGTERM, exit after N ms even if requests remain   [default: 30000]
  --log                  log every request (JSON lines on standard output)
  -h, --help             show this help

API: POST /v1/entities {"text" | "texts", "labels", "threshold"?, "flatNer"?, "multiLabel"?};
GET /healthz, /readyz, /metrics (Prometheus), /openapi.json, / (demo page).

Example:
  gliner-tf serve --model fixtures/models/demo --port 8080
  curl -s localhost:8080/v1/entities -H 'content-type: application/json' \\
    -d '{"text": "Kalo Dorvasel joined Tavosel Labs.", "labels": ["person", "organization"]}'`;

export async function runServe(argv: string[]): Promise<void> {
  const values = parseCommand(argv, {
    model: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, backend: { type: 'string' },
    'max-batch-size': { type: 'string' }, 'max-wait-ms': { type: 'string' }, 'max-queue': { type: 'string' },
    'timeout-ms': { type: 'string' }, 'body-limit': { type: 'string' }, 'max-texts': { type: 'string' },
    'max-text-length': { type: 'string' }, 'max-labels': { type: 'string' }, cors: { type: 'string', multiple: true },
    'drain-timeout-ms': { type: 'string' }, log: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP + '\n');
    return;
  }
  const model = requireOption(values, 'model');
  const int = (name: string, fallback: number, min: number) => numberOption(values, name, fallback, (v) => Number.isInteger(v) && v >= min, `an integer >= ${min}`);
  const backend = (values.backend ?? 'auto') as BackendPreference;
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(backend)) throw new UsageError(`--backend must be auto, tensorflow, wasm or cpu, got '${backend}'`);
  const cors = ((values.cors as unknown as string[] | undefined) ?? []).flatMap((c) => c.split(',')).map((c) => c.trim()).filter(Boolean);
  for (const c of cors) if (!/^https?:\/\/[^/]+$/.test(c)) throw new UsageError(`--cors must be an origin such as http://localhost:3000 (scheme and host, no path), got '${c}'`);
  const drainMs = int('drain-timeout-ms', 30_000, 0);
  const server = await startServer({
    model, backend, cors,
    host: (values.host as string | undefined) ?? '127.0.0.1',
    port: int('port', 8080, 0),
    maxBatchSize: int('max-batch-size', 8, 1),
    maxWaitMs: int('max-wait-ms', 5, 0),
    maxQueue: int('max-queue', 256, 1),
    timeoutMs: int('timeout-ms', 30_000, 0),
    bodyLimit: int('body-limit', 1024 * 1024, 1),
    maxTexts: int('max-texts', 64, 1),
    maxTextLength: int('max-text-length', 20_000, 1),
    maxLabels: int('max-labels', 64, 1),
    logger: Boolean(values.log),
  });
  process.stderr.write(`gliner-tf serve: listening on ${server.url} (demo page at ${server.url}/)\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stderr.write(`gliner-tf serve: ${signal}: finishing ${server.batcher.queueDepth} queued texts and in-flight requests\n`);
      const force = setTimeout(() => {
        process.stderr.write(`gliner-tf serve: requests still running after ${drainMs} ms; exiting\n`);
        process.exit(1);
      }, drainMs);
      force.unref();
      server.close().then(() => {
        process.stderr.write('gliner-tf serve: stopped\n');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
