/**
 * The HTTP service over the public API: POST /v1/entities (dynamically batched), /healthz,
 * /readyz, /metrics, /openapi.json and the demo page at /. Fastify: JSON-schema validation of
 * bodies, body-size limits, and graceful close are built in and well tested.
 */
import Fastify, { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { GLiNER } from '../gliner';
import type { BackendPreference } from '../backend';
import { Batcher, BatcherError, BatchModel } from './batcher';
import { ServerMetrics } from './metrics';
import { entitiesRequestSchema, openApiDocument } from './schema';
import { demoPage } from './demo-page';

export interface ServeOptions {
  /** A loaded model, or a folder / hub id to load. */
  model: GLiNER | BatchModel | string;
  host?: string;
  /** 0 picks a free port. Default 8080. */
  port?: number;
  backend?: BackendPreference;
  maxBatchSize?: number;
  maxWaitMs?: number;
  /** Texts allowed to wait for the model. Default 256. */
  maxQueue?: number;
  /** Per-request timeout in ms (0: none). Default 30000. */
  timeoutMs?: number;
  /** Request body limit in bytes. Default 1 MiB. */
  bodyLimit?: number;
  maxTexts?: number;
  /** Characters per text. Default 20000 (longer texts within it are windowed by the library). */
  maxTextLength?: number;
  maxLabels?: number;
  /** Origins allowed to call the API from a browser (CORS); none by default. */
  cors?: string[];
  /** Log requests (pino, JSON lines on stdout). Default false. */
  logger?: boolean;
  onWarning?: (message: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  app: FastifyInstance;
  batcher: Batcher;
  metrics: ServerMetrics;
  /** Stop accepting requests, finish the accepted ones, free the model (if we loaded it). */
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(message);
  }
}

const VERSION = '0.1.0';

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const limits = {
    maxTexts: options.maxTexts ?? 64,
    maxLabels: options.maxLabels ?? 64,
    maxTextLength: options.maxTextLength ?? 20_000,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
  };
  const timeoutMs = options.timeoutMs ?? 30_000;
  const cors = new Set(options.cors ?? []);
  let model: BatchModel | null = typeof options.model === 'string' ? null : options.model;
  let ready = false;
  let closing = false;
  const proxy: BatchModel = { batchPredictEntities: (t, l, o) => model!.batchPredictEntities(t, l, o) };
  let metrics!: ServerMetrics;
  const batcher = new Batcher(proxy, {
    maxBatchSize: options.maxBatchSize,
    maxWaitMs: options.maxWaitMs,
    maxQueue: options.maxQueue,
    onBatch: (n, s) => metrics.batch(n, s),
  });
  metrics = new ServerMetrics(() => batcher.queueDepth, () => ready && !closing);
  const page = demoPage(limits.maxLabels);
  const openapi = openApiDocument(limits, VERSION);

  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: limits.bodyLimit,
    // Wrong types are errors, not coerced; unknown keys are errors, not dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false } },
    forceCloseConnections: 'idle',
  });
  // JSON only: a text/plain body is a 415, not a string that fails validation.
  app.removeContentTypeParser(['text/plain']);

  const retryAfter = () => String(Math.max(1, Math.ceil((batcher.queueDepth / batcher.maxBatchSize) * 0.5)));
  const sendError = (reply: FastifyReply, e: HttpError) => {
    metrics.errors.inc({ kind: e.code });
    if (e.status === 503) reply.header('retry-after', retryAfter());
    return reply.code(e.status).send({ error: { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) } });
  };

  app.addHook('onRequest', async (req, reply) => {
    const origin = req.headers.origin;
    if (origin && cors.has(origin)) {
      reply.header('access-control-allow-origin', origin).header('vary', 'Origin');
      if (req.method === 'OPTIONS') {
        reply.header('access-control-allow-methods', 'GET, POST').header('access-control-allow-headers', 'content-type').header('access-control-max-age', '600');
        return reply.code(204).send();
      }
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.requests.inc({ route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) });
  });

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err instanceof HttpError) return sendError(reply, err);
    if (err.validation) {
      const v = err.validation[0];
      const path = (v.instancePath || '').replace(/^\//, '').replace(/\/(\d+)/g, '[$1]').replace(/\//g, '.');
      const field = v.keyword === 'additionalProperties' ? String((v.params as { additionalProperty: string }).additionalProperty) : v.keyword === 'required' ? String((v.params as { missingProperty: string }).missingProperty) : path;
      const message = v.keyword === 'additionalProperties' ? `unknown field '${field}'` : v.keyword === 'required' ? `missing field '${field}'` : `${field || 'body'} ${v.message}`;
      return sendError(reply, new HttpError(400, 'invalid_request', message, field || 'body'));
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, new HttpError(413, 'payload_too_large', `the body is larger than ${limits.bodyLimit} bytes`, 'body'));
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return sendError(reply, new HttpError(415, 'unsupported_media_type', 'send Content-Type: application/json', 'content-type'));
    if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err.statusCode === 400) return sendError(reply, new HttpError(400, 'invalid_json', `the body is not valid JSON: ${err.message}`, 'body'));
    app.log.error(err);
    return sendError(reply, new HttpError(500, 'internal', err.message));
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, new HttpError(404, 'not_found', `no route ${req.method} ${req.url}`)));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (ready && !closing) return { status: 'ready' };
    return reply.code(503).header('retry-after', '1').send({ status: closing ? 'shutting down' : 'loading' });
  });
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render()));
  app.get('/openapi.json', async () => openapi);
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('content-security-policy', page.csp).send(page.html));

  interface Body { text?: string; texts?: string[]; labels: string[]; threshold: number; flatNer: boolean; multiLabel: boolean }
  app.post<{ Body: Body }>('/v1/entities', { schema: { body: entitiesRequestSchema(limits) } }, async (req, reply) => {
    const t0 = process.hrtime.bigint();
    const b = req.body;
    if ((b.text === undefined) === (b.texts === undefined)) throw new HttpError(400, 'invalid_request', 'give exactly one of text or texts', 'text');
    const texts = b.texts ?? [b.text!];
    if (texts.length > limits.maxTexts) throw new HttpError(413, 'too_many_texts', `${texts.length} texts, at most ${limits.maxTexts} per request`, 'texts');
    const long = texts.findIndex((t) => t.length > limits.maxTextLength);
    if (long >= 0) throw new HttpError(413, 'text_too_long', `${texts[long].length} characters, at most ${limits.maxTextLength} per text`, b.texts ? `texts[${long}]` : 'text');
    if (b.labels.length > limits.maxLabels) throw new HttpError(413, 'too_many_labels', `${b.labels.length} labels, at most ${limits.maxLabels}`, 'labels');
    const blank = b.labels.findIndex((l) => l.trim() === '');
    if (blank >= 0) throw new HttpError(400, 'invalid_request', `labels[${blank}] is an empty label`, `labels[${blank}]`);
    if (closing) throw new HttpError(503, 'shutting_down', 'the server is shutting down');
    if (!ready) throw new HttpError(503, 'not_ready', 'the model is still loading');
    try {
      const result = await batcher.submit(texts, b.labels, { threshold: b.threshold, flatNer: b.flatNer, multiLabel: b.multiLabel }, timeoutMs);
      metrics.latency.observe(Number(process.hrtime.bigint() - t0) / 1e9);
      return { entities: b.texts ? result : result[0] };
    } catch (e) {
      if (e instanceof BatcherError) throw new HttpError(e.code === 'timeout' ? 504 : 503, e.code, e.message);
      throw e;
    }
  });

  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 8080 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port ?? 8080;
  const ownModel = typeof options.model === 'string';
  try {
    if (typeof options.model === 'string') model = await GLiNER.fromPretrained(options.model, { backend: options.backend, onWarning: options.onWarning });
    // Warm-up: the first forward pass compiles kernels and sizes buffers.
    await model!.batchPredictEntities(['Warm up the model.'], [['thing']], { threshold: 0.5 });
    ready = true;
  } catch (e) {
    await app.close();
    throw e;
  }
  const host = options.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    app,
    batcher,
    metrics,
    async close() {
      if (closing) return;
      closing = true;
      // app.close stops listening and waits for in-flight requests; the batcher keeps running them.
      const closed = app.close();
      await batcher.drain();
      // Keep-alive sockets that carried the last answers are idle now; close them so close() ends.
      const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
      try {
        await closed;
      } finally {
        clearInterval(sweep);
      }
      if (ownModel && model instanceof GLiNER) model.dispose();
    },
  };
}
