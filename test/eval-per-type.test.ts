/**
 * Evaluation of per-type files (Universal-NER's CrossNER / MIT layout: one Pile-NER conversation
 * per (text, entity type)) must score exactly as the same content written one record per text.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { GLiNER } from '../src/gliner';
import { readTrainingFile } from '../src/training/data';
import { evaluateExamples, mergeEvalRecords } from '../src/training/evaluate';
import { pileNerPerTypeRecords } from '../tools/make-pilener-eval';
import { cliInProcess } from './helpers/cli';

let model: GLiNER;
let dir: string;

beforeAll(async () => {
  model = await GLiNER.fromPretrained('fixtures/models/demo', { backend: 'wasm' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-eval-per-type-'));
});
afterAll(() => {
  model.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

type Conversation = { conversations: { from: string; value: string }[] };

/** The per-type records folded into one GLiNER-format record per text (independent of our merge). */
function mergedGlinerForm(records: Conversation[]): unknown[] {
  const byText = new Map<string, { tokenized_text: string[]; ner: [number, number, string][] }>();
  for (const r of records) {
    const text = r.conversations[0].value.slice('Text: '.length);
    const type = /^What describes (.*) in the text\?$/.exec(r.conversations[2].value)![1];
    const mentions: string[] = JSON.parse(r.conversations[3].value);
    // the generator's texts are space-joined words
    const words = text.split(' ');
    let rec = byText.get(text);
    if (!rec) byText.set(text, (rec = { tokenized_text: words, ner: [] }));
    for (const m of mentions) {
      const mw = m.split(' ');
      for (let i = 0; i + mw.length <= words.length; i++) {
        if (mw.every((w, j) => words[i + j].toLowerCase() === w.toLowerCase())) rec.ner.push([i, i + mw.length - 1, type]);
      }
    }
  }
  return [...byText.values()];
}

test('a per-type Pile-NER file scores exactly as its merged one-record-per-text form', async () => {
  const records = pileNerPerTypeRecords(120) as Conversation[];
  const perTypeFile = path.join(dir, 'per-type.json');
  const mergedFile = path.join(dir, 'merged.json');
  fs.writeFileSync(perTypeFile, JSON.stringify(records));
  fs.writeFileSync(mergedFile, JSON.stringify(mergedGlinerForm(records)));
  const perType = (await readTrainingFile(perTypeFile)).examples;
  const merged = (await readTrainingFile(mergedFile)).examples;
  expect(perType).toHaveLength(120);
  expect(merged).toHaveLength(30);

  const before = tf.memory().numTensors;
  const a = await evaluateExamples(model, perType);
  const b = await evaluateExamples(model, merged);
  expect(tf.memory().numTensors).toBe(before);
  expect(a.numExamples).toBe(30);
  expect(a.numRecords).toBe(120);
  expect({ tp: a.tp, fp: a.fp, fn: a.fn, perLabel: a.perLabel }).toEqual({ tp: b.tp, fp: b.fp, fn: b.fn, perLabel: b.perLabel });
  // the demo model knows this corpus: a per-type file is not capped at 1 / (number of types)
  expect(a.precision).toBeGreaterThan(0.9);
  expect(a.tp + a.fn).toBeGreaterThan(30);
});

test('each record is prompted with the types it asked about', () => {
  const conv = (type: string) => ({ tokens: ['Kalo', 'visited', 'Mirenburg'], spans: [], askedTypes: [type] });
  const items = mergeEvalRecords([
    { ...conv('person'), spans: [{ start: 0, end: 0, label: 'person' }] },
    { ...conv('city'), spans: [{ start: 2, end: 2, label: 'city' }] },
    { ...conv('date') },
    { tokens: ['Another', 'text'], spans: [], askedTypes: ['person'] },
    // no restricted types: kept as it is, even when its words repeat
    { tokens: ['Kalo', 'visited', 'Mirenburg'], spans: [] },
  ]);
  expect(items.map((i) => [i.tokens.length, i.types, i.spans.length])).toEqual([
    [3, ['person', 'city', 'date'], 2],
    [2, ['person'], 0],
    [3, null, 0],
  ]);
});

test('gliner-tf eval says how many per-type records it merged', async () => {
  const file = path.join(dir, 'cli.json');
  fs.writeFileSync(file, JSON.stringify(pileNerPerTypeRecords(8)));
  const r = await cliInProcess(['eval', '--model', 'fixtures/models/demo', '--data', file, '--backend', 'wasm']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^2 examples \(8 per-type records merged by text\), threshold 0\.5\n/);
});
