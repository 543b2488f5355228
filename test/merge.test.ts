/**
 * gliner-tf merge: a checkpoint averaged with itself predicts the same, incompatible
 * checkpoints are refused, and the greedy soup over three short fine-tunes of the tiny fixture
 * keeps only what does not lower dev F1.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GLiNER } from '../src/gliner';
import { initBackend } from '../src/backend';
import { normalizeGlinerRecord } from '../src/training/data';
import { Trainer } from '../src/training/trainer';
import { mergeCheckpoints } from '../src/training/merge';
import { runCli } from './helpers/cli';
import { referenceModelDirs } from './helpers/reference';
import { SYNTHETIC_TRAINING_RECIPE, syntheticNer } from './helpers/synthetic-ner';

const FIXTURE = referenceModelDirs().find((d) => d.endsWith('tiny_buckets8')) ?? referenceModelDirs()[0];
const DEMO = path.join(__dirname, '..', 'fixtures', 'models', 'demo');
let tmp: string;
const copy = (from: string, to: string) => {
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) if (!f.startsWith('expected_') && fs.statSync(path.join(from, f)).isFile()) fs.copyFileSync(path.join(from, f), path.join(to, f));
  return to;
};
beforeAll(async () => {
  await initBackend('wasm');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-merge-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('a checkpoint averaged with itself predicts exactly the same', async () => {
  const out = path.join(tmp, 'self');
  const r = runCli(['merge', '--models', DEMO, DEMO, '--output', out, '--quiet']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const text = 'Kalo Dorvasel joined Tavosel Labs in Mirenburg on 4 May 2021.';
  const labels = ['person', 'organization', 'city', 'date'];
  const [a, b] = await Promise.all([GLiNER.fromPretrained(DEMO, { backend: 'wasm' }), GLiNER.fromPretrained(out, { backend: 'wasm' })]);
  try {
    const ea = await a.predictEntities(text, labels, { threshold: 0.1 });
    expect(ea.length).toBeGreaterThan(0);
    expect(await b.predictEntities(text, labels, { threshold: 0.1 })).toEqual(ea);
  } finally {
    a.dispose();
    b.dispose();
  }
  expect(JSON.parse(fs.readFileSync(path.join(out, 'merge.json'), 'utf8')).used).toEqual([{ dir: DEMO, weight: 0.5 }, { dir: DEMO, weight: 0.5 }]);
}, 120_000);

test('incompatible checkpoints are refused with the difference named', async () => {
  const wide = copy(DEMO, path.join(tmp, 'wide'));
  const cfg = JSON.parse(fs.readFileSync(path.join(wide, 'gliner_config.json'), 'utf8'));
  cfg.encoder_config.num_hidden_layers += 1;
  fs.writeFileSync(path.join(wide, 'gliner_config.json'), JSON.stringify(cfg));
  await expect(mergeCheckpoints([DEMO, wide])).rejects.toThrow(`cannot merge ${wide} with ${DEMO}: different architectures (encoder_config 'num_hidden_layers'`);
  const tok = copy(DEMO, path.join(tmp, 'tok'));
  fs.appendFileSync(path.join(tok, 'spm.model'), Buffer.from([0]));
  const r = runCli(['merge', '--models', DEMO, tok, '--output', path.join(tmp, 'never'), '--quiet']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`cannot merge ${tok} with ${DEMO}: different tokenizers (spm.model differs)`);
  expect(fs.existsSync(path.join(tmp, 'never'))).toBe(false);
  const other = runCli(['merge', '--models', DEMO, FIXTURE, '--output', path.join(tmp, 'never'), '--quiet']);
  expect(other.code).toBe(1);
  expect(other.stderr).toMatch(/cannot merge .* different (architectures|tokenizers)/);
}, 120_000);

test('greedy soup over three short fine-tunes of the tiny fixture', async () => {
  const base = copy(FIXTURE, path.join(tmp, 'base'));
  const train = syntheticNer(400, 'train', 1).map((r) => normalizeGlinerRecord(r));
  const dirs: string[] = [];
  for (const seed of [1, 2, 3]) {
    const model = await GLiNER.fromPretrained(base, { backend: 'wasm' });
    const trainer = new Trainer(model, train, { config: { ...SYNTHETIC_TRAINING_RECIPE, numSteps: 20 + 10 * seed, evalEvery: 0, saveSteps: 0, seed }, outputDir: path.join(tmp, `ft${seed}`), sourceDir: base });
    try {
      dirs.push((await trainer.train()).finalModelDir!);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  }
  const dev = path.join(tmp, 'dev.jsonl');
  fs.writeFileSync(dev, syntheticNer(60, 'heldout', 2).map((r) => JSON.stringify(r)).join('\n') + '\n');
  const out = path.join(tmp, 'soup');
  const r = runCli(['merge', '--models', ...dirs, '--eval-data', dev, '--threshold', '0.3', '--output', out]);
  expect(r.code).toBe(0);
  const summary = JSON.parse(r.stdout);
  console.log(`greedy soup: individual ${summary.individual.map((x: { dir: string; f1: number }) => `${path.basename(path.dirname(x.dir))} ${x.f1.toFixed(4)}`).join(', ')}; steps ${summary.steps.map((s: { f1: number; kept: boolean }) => `${s.f1.toFixed(4)}${s.kept ? ' kept' : ' dropped'}`).join(', ')}; soup F1 ${summary.dev_f1.toFixed(4)}`);
  const best = Math.max(...summary.individual.map((x: { f1: number }) => x.f1));
  expect(summary.mode).toBe('greedy');
  expect(summary.dev_f1).toBeGreaterThanOrEqual(best); // never worse than the best ingredient
  expect(summary.steps).toHaveLength(3);
  expect(summary.steps[0].dir).toBe(summary.individual.find((x: { f1: number }) => x.f1 === best).dir);
  for (const s of summary.steps.slice(1)) expect(s.kept).toBe(s.f1 >= summary.steps.filter((p: { kept: boolean; f1: number }) => p.kept && summary.steps.indexOf(p) < summary.steps.indexOf(s)).pop().f1);
  expect(summary.used.length).toBe(summary.steps.filter((s: { kept: boolean }) => s.kept).length);
  // the written soup scores what the merge reported
  const ev = runCli(['eval', '--model', out, '--data', dev, '--threshold', '0.3', '--json']);
  expect(JSON.parse(ev.stdout).f1).toBeCloseTo(summary.dev_f1, 10);
}, 600_000);
