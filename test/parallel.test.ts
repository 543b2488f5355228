/**
 * `gliner-tf predict --workers N`: a pool of worker processes (or threads) gives byte-for-byte
 * the output of one process, in input order; a worker that dies fails its documents loudly
 * (non-zero exit, the documents named), never silently.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { GLiNER } from '../src/gliner';
import { PredictPool, WorkerCrashedError } from '../src/parallel/predict-pool';
import { ROOT, cliInProcess, runCli } from './helpers/cli';
import { CORPUS_LABELS, makeCorpus, toJsonl } from './helpers/corpus';
import { expectSameEntities } from './helpers/entities';

/** Output lines in order: the texts exactly, entities exactly, scores to SCORE_ATOL (see helpers/entities). */
function expectSameOutput(got: string, want: string): void {
  const parse = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l) as { text: string; entities: unknown[] });
  const a = parse(got);
  const b = parse(want);
  expect(a.map((r) => r.text)).toEqual(b.map((r) => r.text));
  expectSameEntities(a.map((r) => r.entities), b.map((r) => r.entities));
}

jest.setTimeout(600_000);
const DEMO = path.join(ROOT, 'fixtures', 'models', 'demo');
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-parallel-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('predict --workers', () => {
  test('2 worker processes and 2 worker threads: the same output as one process (windowed long texts, per-line labels, gzip)', async () => {
    const docs = makeCorpus(400, 11, { longEvery: 50 });
    const input = path.join(dir, 'corpus.jsonl');
    fs.writeFileSync(input, toJsonl(docs));
    const args = ['predict', '--model', DEMO, '--labels', CORPUS_LABELS.join(','), '--input', input, '--quiet', '--backend', 'wasm'];
    const single = await cliInProcess(args);
    expect(single.code).toBe(0);
    const lines = single.stdout.trim().split('\n');
    expect(lines).toHaveLength(docs.length);
    // the demo model finds entities here, so equality is not vacuous
    expect(lines.filter((l) => JSON.parse(l).entities.length > 0).length).toBeGreaterThan(docs.length / 2);

    const procs = runCli([...args, '--workers', '2']);
    expect(procs.stderr).toBe('');
    expect(procs.code).toBe(0);
    // Workers compute with fewer threads each, and the native BLAS path's float32 sums depend on that.
    expectSameOutput(procs.stdout, single.stdout);

    // threads, from a gzip file, written with --output
    const gz = path.join(dir, 'corpus.jsonl.gz');
    fs.writeFileSync(gz, require('zlib').gzipSync(fs.readFileSync(input)));
    const out = path.join(dir, 'threads.jsonl');
    const threads = runCli([...args.map((a) => (a === input ? gz : a)), '--workers', '2', '--worker-kind', 'thread', '--threads-per-worker', '1', '--output', out]);
    expect(threads.stderr).toBe('');
    expect(threads.code).toBe(0);
    expectSameOutput(fs.readFileSync(out, 'utf8'), single.stdout);
  });

  test('bad --workers values are usage errors', () => {
    for (const bad of ['0', '1.5', 'many']) {
      const r = runCli(['predict', '--model', DEMO, '--labels', 'person', '--text', 'x', `--workers=${bad}`]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--workers must be an integer in [1, 256]');
    }
  });
});

describe('PredictPool API', () => {
  test('results equal GLiNER.batchPredictEntities; a worker killed mid-task rejects that task with the document names', async () => {
    const docs = makeCorpus(60, 13);
    const labels = docs.map((d) => d.labels ?? CORPUS_LABELS);
    const base = tf.memory().numTensors;
    const model = await GLiNER.fromPretrained(DEMO, { backend: 'wasm' });
    // per half: batches of length-sorted texts differ in padding, which moves scores by ~1e-6
    const expected = [
      ...(await model.batchPredictEntities(docs.slice(0, 30).map((d) => d.text), labels.slice(0, 30))),
      ...(await model.batchPredictEntities(docs.slice(30).map((d) => d.text), labels.slice(30))),
    ];
    model.dispose();
    expect(tf.memory().numTensors).toBe(base);

    const pool = await PredictPool.start({ model: DEMO, workers: 2, backend: 'wasm', threadsPerWorker: 1 });
    try {
      const halves = await Promise.all([
        pool.predict(docs.slice(0, 30).map((d) => d.text), labels.slice(0, 30)),
        pool.predict(docs.slice(30).map((d) => d.text), labels.slice(30)),
      ]);
      expectSameEntities([...halves[0], ...halves[1]], expected);

      const names = docs.map((d) => d.id);
      const task = pool.predict(docs.map((d) => d.text), labels, {}, names);
      pool.killWorker(0); // task went to the first idle worker, synchronously
      const err = await task.then(() => null, (e) => e);
      expect(err).toBeInstanceOf(WorkerCrashedError);
      expect(err.code).toBe('WORKER_CRASHED');
      expect(err.documents).toEqual(names);
      expect(err.message).toContain('doc-00000');
      await expect(pool.predict(['x'], [['person']], {}, ['late-doc'])).rejects.toThrow(/late-doc/);
    } finally {
      await pool.close();
    }
  });
});
