/**
 * The Redis queue end to end, on a real redis-server (skipped with a message when none is
 * installed): 2,000 documents, two worker processes, one SIGKILLed mid-chunk and restarted; the
 * export has every document exactly once with the entities of a single-process predict. Also:
 * Redis restarted mid-run (the worker reconnects), poisoned lines and documents fail alone.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ChildProcess, spawn } from 'child_process';
import IORedis from 'ioredis';
import { GLiNER } from '../src/gliner';
import { CLI, ROOT, runCli } from './helpers/cli';
import { expectSameEntities } from './helpers/entities';
import { CORPUS_LABELS, makeCorpus, toJsonl } from './helpers/corpus';
import { REDIS_BIN, RedisServer } from './helpers/redis-server';

jest.setTimeout(900_000);
const DEMO = path.join(ROOT, 'fixtures', 'models', 'demo');
const maybe = REDIS_BIN ? describe : describe.skip;
if (!REDIS_BIN) test.skip('queue tests need redis-server (apt-get install redis-server); skipped', () => {});

interface W { proc: ChildProcess; log: string; exited: Promise<void> }
function startWorker(url: string, extra: string[] = []): W {
  const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', CLI, 'worker', '--redis', url, '--model', DEMO, '--backend', 'wasm', '--lock-duration', '4000', '--stalled-interval', '1000', ...extra], {
    cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GLINER_TF_WASM_THREADS: '1' },
  });
  const w: W = { proc, log: '', exited: new Promise((r) => proc.on('exit', () => r())) };
  proc.stderr!.on('data', (d) => (w.log += d));
  return w;
}
async function until(f: () => boolean | Promise<boolean>, what: string, ms = 600_000) {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
async function stop(w: W) {
  if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGTERM');
  await w.exited;
}
async function expected(docs: ReturnType<typeof makeCorpus>) {
  const model = await GLiNER.fromPretrained(DEMO, { backend: 'wasm' });
  try {
    return await model.batchPredictEntities(docs.map((d) => d.text), docs.map((d) => d.labels ?? CORPUS_LABELS));
  } finally {
    model.dispose();
  }
}


maybe('gliner-tf queue / worker on redis-server', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'gliner-queue-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('2,000 documents, two workers, one SIGKILLed mid-chunk and restarted: every document exactly once, entities as single-process predict', async () => {
    const redis = await RedisServer.start();
    const workers: W[] = [];
    const conn = new IORedis(redis.url);
    try {
      const docs = makeCorpus(2000, 21, { longEvery: 200 });
      const input = path.join(dir, 'corpus.jsonl');
      fs.writeFileSync(input, toJsonl(docs));
      const push = runCli(['queue', 'push', '--redis', redis.url, '--input', input, '--id-field', 'id', '--labels', CORPUS_LABELS.join(','), '--chunk-size', '100']);
      expect(push.code).toBe(0);
      expect(push.stdout).toContain('pushed 2000 documents in 20 chunks');
      workers.push(startWorker(redis.url), startWorker(redis.url));
      // SIGKILL the first worker while it holds a chunk (started, not done)
      let victim = '';
      await until(() => {
        const started = [...workers[0].log.matchAll(/chunk (\S+) started/g)].map((m) => m[1]);
        const last = started[started.length - 1];
        if (started.length >= 2 && last && !workers[0].log.includes(`chunk ${last} done`)) victim = last;
        return victim !== '';
      }, 'worker 1 mid-chunk');
      workers[0].proc.kill('SIGKILL');
      await workers[0].exited;
      workers.push(startWorker(redis.url));
      await until(async () => (await conn.hlen('bull:gliner-tf:gtf:results')) === 2000, 'all results');
      // the killed worker's chunk was taken up by another worker
      expect(workers[1].log + workers[2].log).toContain(`chunk ${victim} done`);
      const out = path.join(dir, 'results.jsonl');
      const exp = runCli(['queue', 'export', '--redis', redis.url, '--output', out]);
      expect(exp.code).toBe(0);
      const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.map((l) => l.id)).toEqual(docs.map((d) => d.id)); // each once, in push order
      expectSameEntities(lines.map((l) => l.entities), await expected(docs));
      const status = JSON.parse(runCli(['queue', 'status', '--redis', redis.url, '--json']).stdout);
      expect(status.documents).toEqual({ total: 2000, done: 2000, failed: 0, pending: 0 });
    } finally {
      await Promise.all(workers.map(stop));
      conn.disconnect();
      await redis.stop();
    }
  });

  test('Redis restarted mid-run: the worker reconnects and finishes; poisoned documents fail alone, retry after the cause is fixed', async () => {
    const redis = await RedisServer.start(true);
    const workers: W[] = [];
    const conn = new IORedis(redis.url, { maxRetriesPerRequest: null });
    try {
      const docs = makeCorpus(400, 22);
      const big = { id: 'big-doc', text: 'Alice moved to Paris. '.repeat(200) };
      const input = path.join(dir, 'poison.jsonl');
      const lines = toJsonl(docs).split('\n');
      lines.splice(10, 0, '{"id": "broken", "text": ');
      lines.splice(20, 0, JSON.stringify(big));
      fs.writeFileSync(input, lines.join('\n'));
      const push = runCli(['queue', 'push', '--redis', redis.url, '--input', input, '--id-field', 'id', '--labels', CORPUS_LABELS.join(','), '--chunk-size', '50']);
      expect(push.code).toBe(0);
      expect(push.stderr).toContain(`${input}:11: invalid JSON`);
      workers.push(startWorker(redis.url, ['--max-doc-chars', '2000']));
      await until(async () => (await conn.hlen('bull:gliner-tf:gtf:results')) >= 50, 'first results');
      await redis.down();
      await new Promise((r) => setTimeout(r, 1500));
      await redis.up();
      await until(async () => (await conn.hlen('bull:gliner-tf:gtf:results')) === 400, 'all but the poisoned');
      expect(workers[0].log).toMatch(/redis: .* \(retrying\)/);
      const errFile = path.join(dir, 'errors.jsonl');
      const out = path.join(dir, 'out.jsonl');
      expect(runCli(['queue', 'export', '--redis', redis.url, '--output', out, '--errors', errFile]).code).toBe(0);
      const errors = fs.readFileSync(errFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(errors.map((e) => e.id).sort()).toEqual([`${input}:11`, 'big-doc'].sort());
      expect(errors.find((e) => e.id === 'big-doc').error).toContain(`text of ${big.text.length} characters, more than the worker's limit of 2000`);
      const got = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(got.map((g) => g.id)).toEqual(docs.map((d) => d.id));
      expectSameEntities(got.map((g) => g.entities), await expected(docs));
      // a worker with a higher limit, and queue retry: the big document is done, its error gone
      await stop(workers[0]);
      workers.push(startWorker(redis.url, ['--max-doc-chars', '100000']));
      expect(runCli(['queue', 'retry', '--redis', redis.url]).stdout).toContain('1 failed chunks queued again');
      await until(async () => (await conn.hexists('bull:gliner-tf:gtf:results', 'big-doc')) === 1, 'big-doc after retry');
      expect(await conn.hexists('bull:gliner-tf:gtf:errors', 'big-doc')).toBe(0);
    } finally {
      await Promise.all(workers.map(stop));
      conn.disconnect();
      await redis.stop();
    }
  });
});
