/**
 * Label descriptions: {"person": "first name and surname of a person"} prompts the description
 * and returns the key, in prediction (API and CLI --labels-file), training data
 * (label_descriptions) and evaluation; a description longer than the window is an error naming
 * the label.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { GLiNER } from '../src/gliner';
import { initBackend } from '../src/backend';
import { normalizeGlinerRecord } from '../src/training/data';
import { evaluateExamples } from '../src/training/evaluate';
import { runCli } from './helpers/cli';
import { syntheticNer } from './helpers/synthetic-ner';

const DEMO = path.join(__dirname, '..', 'fixtures', 'models', 'demo');
const TEXT = 'Kalo Dorvasel joined Tavosel Labs in Mirenburg on 4 May 2021.';
const DESCRIPTIONS = { person: 'name of a person', organization: 'company', city: 'town', date: 'date' };

let model: GLiNER;
let tmp: string;
beforeAll(async () => {
  await initBackend('wasm');
  model = await GLiNER.fromPretrained(DEMO, { backend: 'wasm' });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-desc-'));
});
afterAll(() => {
  model.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('predicting with descriptions prompts the description and returns the key', async () => {
  const before = tf.memory().numTensors;
  const withDesc = await model.predictEntities(TEXT, DESCRIPTIONS, { threshold: 0.05 });
  // the same as prompting the descriptions as labels, renamed back to the keys
  const keys = Object.keys(DESCRIPTIONS);
  const prompts = Object.values(DESCRIPTIONS);
  const asLabels = await model.predictEntities(TEXT, prompts, { threshold: 0.05 });
  expect(withDesc).toEqual(asLabels.map((e) => ({ ...e, label: keys[prompts.indexOf(e.label)] })));
  expect(withDesc.length).toBeGreaterThan(0);
  expect(new Set(withDesc.map((e) => e.label)).size).toBeGreaterThan(1);
  for (const e of withDesc) expect(keys).toContain(e.label);
  // and it changes the scores: "company" is not what the demo model learnt for organizations
  const plain = await model.predictEntities(TEXT, keys, { threshold: 0.05 });
  expect(withDesc).not.toEqual(plain);
  // null or '' prompts the name itself
  expect(await model.predictEntities(TEXT, { person: null, city: '' })).toEqual(await model.predictEntities(TEXT, ['person', 'city']));
  expect(tf.memory().numTensors).toBe(before);
});

test('a description longer than the window is an error naming the label', async () => {
  const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
  await expect(model.predictEntities(TEXT, { person: 'name of a person', award: long })).rejects.toThrow(/the description of label 'award' is \d+ tokens long, more than the 25\d tokens/);
  await expect(model.predictEntities(TEXT, { person: 42 as unknown as string })).rejects.toThrow(/labels\.person: the description must be a string/);
});

test('training data label_descriptions are prompted in training (same loss as the descriptions as labels) and in evaluation', async () => {
  const rec = { tokenized_text: ['Kalo', 'Dorvasel', 'visited', 'Mirenburg', '.'], ner: [[0, 1, 'person'], [3, 3, 'city']] as [number, number, string][] };
  const described = normalizeGlinerRecord({ ...rec, label_descriptions: { person: 'name of a person', city: 'town' } });
  expect(described.descriptions).toEqual({ person: 'name of a person', city: 'town' });
  const renamed = normalizeGlinerRecord({ ...rec, ner: [[0, 1, 'name of a person'], [3, 3, 'town']] });
  const a = model.lossAndGradients([described], { classes: ['person', 'city'], training: false });
  const b = model.lossAndGradients([renamed], { classes: ['name of a person', 'town'], training: false });
  const plain = model.lossAndGradients([normalizeGlinerRecord(rec)], { classes: ['person', 'city'], training: false });
  expect(a.loss).toBe(b.loss);
  expect(a.loss).not.toBe(plain.loss);
  // evaluation reads the descriptions from the examples and scores the keys
  const dev = syntheticNer(30, 'heldout', 4).map((r) => normalizeGlinerRecord({ ...r, label_descriptions: { organization: 'company' } }));
  const m = await evaluateExamples(model, dev);
  expect(Object.keys(m.perLabel)).toEqual(['city', 'date', 'organization', 'person']);
  const mPlain = await evaluateExamples(model, dev, { descriptions: {} });
  expect(m.perLabel.organization.f1).not.toBe(mPlain.perLabel.organization.f1);
  expect(() => normalizeGlinerRecord({ ...rec, label_descriptions: { person: 3 } })).toThrow(/label_descriptions\.person: must be a non-empty string/);
});

test('end to end on the command line: train with label_descriptions, predict with --labels-file', () => {
  const data = path.join(tmp, 'train.jsonl');
  const recs = syntheticNer(24, 'train', 5).map((r) => ({ ...r, label_descriptions: DESCRIPTIONS }));
  fs.writeFileSync(data, recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const out = path.join(tmp, 'run');
  const train = runCli(['train', '--data', data, '--eval-data', data, '--model', DEMO, '--output', out, '--steps', '4', '--batch-size', '4', '--quiet']);
  expect(train.stderr).toBe('');
  expect(train.code).toBe(0);
  const labelsFile = path.join(tmp, 'labels.json');
  fs.writeFileSync(labelsFile, JSON.stringify(DESCRIPTIONS));
  const pred = runCli(['predict', '--model', path.join(out, 'final'), '--labels-file', labelsFile, '--text', TEXT, '--threshold', '0.05', '--quiet']);
  expect(pred.stderr).toBe('');
  expect(pred.code).toBe(0);
  const entities = JSON.parse(pred.stdout).entities as { label: string; text: string }[];
  expect(entities.length).toBeGreaterThan(0);
  for (const e of entities) expect(Object.keys(DESCRIPTIONS)).toContain(e.label);

  fs.writeFileSync(labelsFile, JSON.stringify({ person: 'x '.repeat(600) }));
  const bad = runCli(['predict', '--model', DEMO, '--labels-file', labelsFile, '--text', TEXT, '--quiet']);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/the description of label 'person' is \d+ tokens long/);
  fs.writeFileSync(labelsFile, '{"person": 1}');
  const bad2 = runCli(['predict', '--model', DEMO, '--labels-file', labelsFile, '--text', TEXT, '--quiet']);
  expect(bad2.code).toBe(1);
  expect(bad2.stderr).toContain(`${labelsFile}: the description of label 'person' must be a string`);
}, 300_000);
