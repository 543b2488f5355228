/**
 * gliner-tf serve: the real server on 127.0.0.1 (random port) with the demo model. Answers are
 * compared with the library called per request; bad inputs get their status and error; SIGTERM
 * lets accepted requests finish.
 */
import { spawn } from 'child_process';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import Ajv from 'ajv';
import { GLiNER } from '../src/gliner';
import { RunningServer, startServer } from '../src/serve/app';
import { Batcher, planBatch } from '../src/serve/batcher';
import { CLI, ROOT } from './helpers/cli';
import { expectSameEntities } from './helpers/entities';

const DEMO = path.join(ROOT, 'fixtures', 'models', 'demo');
const LABELS = ['person', 'organization', 'city', 'date'];
const TEXTS = [
  'Kalo Dorvasel joined Tavosel Labs in Mirenburg on 4 May 2021.',
  'Mirenburg.',
  'On 3 June 2020 Pera Vask met Lomi Trask of Dorvo Group in Kestel, then flew to Varnholm with Sela Moritz to see Tavosel Labs.',
  'Tavosel Labs hired Kalo.',
  '',
  'Sela Moritz',
  Array.from({ length: 30 }, (_, i) => `Pera Vask ${i} visited Kestel on 1 May 20${10 + (i % 10)} for Dorvo Group.`).join(' '),
];


let model: GLiNER;
let server: RunningServer;
let baseline: number;

const post = async (s: RunningServer, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) => {
  const r = await fetch(`${s.url}/v1/entities`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, headers: r.headers, json: (await r.json()) as any };
};

beforeAll(async () => {
  model = await GLiNER.fromPretrained(DEMO, { backend: 'wasm' });
  server = await startServer({ model, port: 0, maxBatchSize: 8, maxWaitMs: 20, maxTexts: 40, maxTextLength: 5000, maxLabels: 10, bodyLimit: 64 * 1024 });
  baseline = tf.memory().numTensors;
});
afterAll(async () => {
  await server?.close();
  model?.dispose();
});

describe('planBatch', () => {
  test('round-robin across waiting requests of the oldest request\'s options', () => {
    const jobs = [
      { key: 'a', texts: ['1', '2', '3', '4', '5'], next: 0 },
      { key: 'b', texts: ['x'], next: 0 },
      { key: 'a', texts: ['p', 'q'], next: 0 },
    ];
    expect(planBatch(jobs, 4)).toEqual([{ job: 0, index: 0 }, { job: 2, index: 0 }, { job: 0, index: 1 }, { job: 2, index: 1 }]);
    expect(planBatch([{ key: 'b', texts: ['x'], next: 1 }, ...jobs.slice(1)], 8)).toEqual([{ job: 1, index: 0 }]);
  });

  test('a later short request is in the next batch, not behind a long one', async () => {
    const calls: string[][] = [];
    const fake = { batchPredictEntities: async (texts: readonly string[]) => (calls.push([...texts]), texts.map(() => [])) };
    const b = new Batcher(fake, { maxBatchSize: 4, maxWaitMs: 0 });
    const opts = { threshold: 0.5, flatNer: true, multiLabel: false };
    const long = b.submit(Array.from({ length: 12 }, (_, i) => `long${i}`), ['x'], opts);
    const short = b.submit(['short'], ['x'], opts);
    await Promise.all([long, short]);
    const batchOfShort = calls.findIndex((c) => c.includes('short'));
    expect(batchOfShort).toBeLessThanOrEqual(1);
    expect(calls.flat().sort()).toEqual([...Array.from({ length: 12 }, (_, i) => `long${i}`), 'short'].sort());
  });
});

describe('serve', () => {
  test('answers equal the library called per request', async () => {
    const cases = [
      { text: TEXTS[0], labels: LABELS },
      { texts: TEXTS, labels: LABELS, threshold: 0.3 },
      { texts: TEXTS.slice(0, 4), labels: ['city', 'person'], flatNer: false, multiLabel: true, threshold: 0.2 },
      { text: TEXTS[2], labels: ['date', 'person', 'person'], flatNer: false },
    ];
    for (const c of cases) {
      const r = await post(server, c);
      expect(r.status).toBe(200);
      const texts = 'texts' in c ? c.texts! : [c.text!];
      const want = await model.batchPredictEntities(texts, c.labels, { threshold: c.threshold ?? 0.5, flatNer: c.flatNer ?? true, multiLabel: c.multiLabel ?? false });
      expectSameEntities(r.json.entities, 'texts' in c ? want : want[0]);
    }
    expect(tf.memory().numTensors).toBe(baseline);
  });

  test('100 concurrent requests of mixed length: batches of more than one text, every answer correct', async () => {
    const before = await (await fetch(`${server.url}/metrics`)).text();
    const reqs = Array.from({ length: 100 }, (_, i) => ({
      texts: [TEXTS[i % TEXTS.length], ...(i % 3 === 0 ? [TEXTS[(i + 2) % TEXTS.length]] : [])],
      labels: i % 2 ? LABELS : ['person', 'city'],
      threshold: i % 4 === 0 ? 0.3 : 0.5,
    }));
    const answers = await Promise.all(reqs.map((r) => post(server, r)));
    for (const [i, r] of reqs.entries()) {
      expect(answers[i].status).toBe(200);
      expectSameEntities(answers[i].json.entities, await model.batchPredictEntities(r.texts, r.labels, { threshold: r.threshold }));
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const read = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    const batches = read(metrics, 'gliner_batch_size_count') - read(before, 'gliner_batch_size_count');
    const singles = read(metrics, 'gliner_batch_size_bucket\\{le="1"\\}') - read(before, 'gliner_batch_size_bucket\\{le="1"\\}');
    const texts = read(metrics, 'gliner_texts_total') - read(before, 'gliner_texts_total');
    expect(texts).toBe(reqs.reduce((n, r) => n + r.texts.length, 0));
    expect(batches - singles).toBeGreaterThan(0); // some batches held more than one text
    expect(batches).toBeLessThan(texts);
    expect(metrics).toMatch(/^gliner_http_requests_total\{route="\/v1\/entities",status="200"\} \d+$/m);
    expect(tf.memory().numTensors).toBe(baseline);
  });

  test.each([
    ['malformed JSON', 400, 'invalid_json', 'body', '{"text": "a", "labels": ['],
    ['NaN threshold', 400, 'invalid_json', 'body', '{"text": "a", "labels": ["x"], "threshold": NaN}'],
    ['empty body', 400, 'invalid_json', 'body', ''],
    ['threshold as a string', 400, 'invalid_request', 'threshold', { text: 'a', labels: ['x'], threshold: '0.5' }],
    ['threshold above 1', 400, 'invalid_request', 'threshold', { text: 'a', labels: ['x'], threshold: 1.5 }],
    ['threshold "NaN"', 400, 'invalid_request', 'threshold', { text: 'a', labels: ['x'], threshold: 'NaN' }],
    ['text a number', 400, 'invalid_request', 'text', { text: 5, labels: ['x'] }],
    ['a non-string in texts', 400, 'invalid_request', 'texts[1]', { texts: ['a', null], labels: ['x'] }],
    ['labels missing', 400, 'invalid_request', 'labels', { text: 'a' }],
    ['labels empty', 400, 'invalid_request', 'labels', { text: 'a', labels: [] }],
    ['a blank label', 400, 'invalid_request', 'labels[1]', { text: 'a', labels: ['x', '  '] }],
    ['flatNer a string', 400, 'invalid_request', 'flatNer', { text: 'a', labels: ['x'], flatNer: 'yes' }],
    ['both text and texts', 400, 'invalid_request', 'text', { text: 'a', texts: ['b'], labels: ['x'] }],
    ['an unknown field', 400, 'invalid_request', 'treshold', { text: 'a', labels: ['x'], treshold: 0.2 }],
    ['an array body', 400, 'invalid_request', 'body', [1, 2]],
    ['too many texts', 413, 'too_many_texts', 'texts', { texts: Array(41).fill('a'), labels: ['x'] }],
    ['a text too long', 413, 'text_too_long', 'texts[1]', { texts: ['a', 'b'.repeat(5001)], labels: ['x'] }],
    ['too many labels', 413, 'too_many_labels', 'labels', { text: 'a', labels: Array.from({ length: 11 }, (_, i) => `l${i}`) }],
    ['a body over the limit', 413, 'payload_too_large', 'body', { text: 'a'.repeat(70 * 1024), labels: ['x'] }],
  ])('%s: %i %s naming %s', async (_name, status, code, field, body) => {
    const r = await post(server, body);
    expect({ status: r.status, code: r.json.error.code, field: r.json.error.field }).toEqual({ status, code, field });
    expect(typeof r.json.error.message).toBe('string');
  });

  test('wrong content type is 415; the server keeps answering after bad input', async () => {
    const r = await post(server, 'text=a', { 'content-type': 'text/plain' });
    expect([r.status, r.json.error.code]).toEqual([415, 'unsupported_media_type']);
    const ok = await post(server, { text: TEXTS[0], labels: LABELS });
    expectSameEntities(ok.json.entities, await model.predictEntities(TEXTS[0], LABELS));
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });

  test('a full queue is 503 with Retry-After; a request past its timeout is 504', async () => {
    const slow = await startServer({ model, port: 0, maxBatchSize: 64, maxWaitMs: 1000, maxQueue: 3, timeoutMs: 100 });
    try {
      const first = post(slow, { texts: ['a', 'b', 'c'], labels: ['x'] });
      await new Promise((r) => setTimeout(r, 20));
      const full = await post(slow, { text: 'd', labels: ['x'] });
      expect([full.status, full.json.error.code]).toEqual([503, 'queue_full']);
      expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const late = await first; // waited 1000 ms for a batch, timeout 100 ms
      expect([late.status, late.json.error.code]).toEqual([504, 'timeout']);
    } finally {
      await slow.close();
    }
  });

  test('healthz, readyz, openapi.json describes the answers; CORS only for the given origin', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as any;
    expect(doc.openapi).toBe('3.1.0');
    const op = doc.paths['/v1/entities'].post;
    const ajv = new Ajv({ strict: false });
    const ok = ajv.compile(op.responses['200'].content['application/json'].schema);
    const err = ajv.compile(op.responses['400'].content['application/json'].schema);
    const good = await post(server, { texts: TEXTS.slice(0, 2), labels: LABELS });
    expect(ok(good.json)).toBe(true);
    const bad = await post(server, { text: 1, labels: LABELS });
    expect(err(bad.json)).toBe(true);
    expect(ajv.validate(op.requestBody.content['application/json'].schema, { text: 'a', labels: ['x'], threshold: 0.1 })).toBe(true);
    expect(ajv.validate(op.requestBody.content['application/json'].schema, { text: 'a', labels: ['x'], threshold: 'x' })).toBe(false);

    const preflight = await fetch(`${server.url}/v1/entities`, { method: 'OPTIONS', headers: { origin: 'http://127.0.0.1:1', 'access-control-request-method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const withCors = await startServer({ model, port: 0, cors: ['http://127.0.0.1:1'] });
    try {
      const p = await fetch(`${withCors.url}/v1/entities`, { method: 'OPTIONS', headers: { origin: 'http://127.0.0.1:1', 'access-control-request-method': 'POST' } });
      expect([p.status, p.headers.get('access-control-allow-origin')]).toEqual([204, 'http://127.0.0.1:1']);
    } finally {
      await withCors.close();
    }
  });
});

describe('gliner-tf serve (child process)', () => {
  test('SIGTERM finishes the accepted requests, then exits 0', async () => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', CLI, 'serve', '--model', DEMO, '--port', '0', '--max-wait-ms', '3000', '--max-batch-size', '64'], {
      cwd: ROOT,
      env: { ...process.env, GLINER_TF_BACKEND: 'wasm' },
    });
    let stderr = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d) => {
        stderr += d;
        const m = /listening on (http:\/\/\S+)/.exec(stderr);
        if (m) resolve(m[1]);
      });
      child.on('exit', () => reject(new Error(`serve exited early: ${stderr}`)));
    });
    const bodies = TEXTS.slice(0, 5).map((t) => ({ text: t, labels: LABELS }));
    const pending = bodies.map((b) => fetch(`${url}/v1/entities`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) }));
    // Wait until all five are queued (they would wait 3 s for the batch to fill), then SIGTERM.
    for (;;) {
      const m = await (await fetch(`${url}/metrics`)).text();
      if (/^gliner_queue_depth 5$/m.test(m)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGTERM');
    const answers = await Promise.all(pending);
    for (const [i, a] of answers.entries()) {
      expect(a.status).toBe(200);
      expectSameEntities(((await a.json()) as any).entities, await model.predictEntities(bodies[i].text, LABELS));
    }
    expect({ code: await exited, stderr }).toEqual({ code: 0, stderr: expect.stringMatching(/stopped\n$/) });
    expect(stderr).toMatch(/SIGTERM: finishing 5 queued texts/);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
