/**
 * Labels holding a special or added token of the tokenizer (<<ENT>>, <<SEP>>, [FLERT], [CLS], ...)
 * are refused at prediction, in training files (FILE line N, key) and in the Trainer, by the one
 * check in src/processing/label-tokens.ts.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { GLiNER } from '../src/gliner';
import { initBackend } from '../src/backend';
import { buildBatch } from '../src/processing/batch';
import { LabelTokenError } from '../src/processing/label-tokens';
import { readTrainingFile } from '../src/training/data';
import { Trainer } from '../src/training/trainer';
import { referenceModelDirs } from './helpers/reference';
import { cliInProcess } from './helpers/cli';

describe('labels containing the tokenizer\'s special tokens', () => {
  let model: GLiNER;
  let tmp: string;
  beforeAll(async () => {
    await initBackend('wasm');
    model = await GLiNER.fromPretrained(referenceModelDirs()[0]);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-labels-'));
  });
  afterAll(() => {
    model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the reserved strings are the prompt tokens and every added/special token', () => {
    const reserved = model.reservedLabelTokens();
    for (const t of ['<<ENT>>', '<<SEP>>', '[FLERT]', '[CLS]', '[SEP]', '[PAD]', '[UNK]', '[MASK]']) expect(reserved).toContain(t);
    for (const t of (model.tokenizer as unknown as { addedTokens(): { content: string }[] }).addedTokens()) expect(reserved).toContain(t.content);
  });

  test('the hazard is real: the tokenizer turns "<<ENT>>" inside a label into the class token', () => {
    const entId = model.tokenizer.tokenToId('<<ENT>>')!;
    expect(model.tokenizer.encodeWord('person <<ENT>> x')).toContain(entId);
    // prompt building itself refuses it (the backstop under every caller)
    expect(() =>
      buildBatch([{ words: ['Alice'], labels: ['person', 'x<<ENT>>'] }], model.tokenizer, { entToken: '<<ENT>>', sepToken: '<<SEP>>' }),
    ).toThrow(/batch row 0, label 1: the label "x<<ENT>>" contains the tokenizer's special token "<<ENT>>"/);
  });

  test('predictEntities refuses each reserved token inside a label, naming labels[i] and the token; no tensors leak', async () => {
    const before = tf.memory().numTensors;
    for (const token of model.reservedLabelTokens()) {
      const label = `city ${token}`;
      const err = await model.predictEntities('Alice moved to Paris.', ['person', label, 'date'], { threshold: 0 }).catch((e) => e);
      expect(err).toBeInstanceOf(LabelTokenError);
      expect(err.code).toBe('LABEL_CONTAINS_SPECIAL_TOKEN');
      expect(err.message).toContain(`labels[1]: the label ${JSON.stringify(label)}`);
      expect(err.message).toContain(JSON.stringify(token));
    }
    await expect(model.batchPredictEntities(['a', 'b'], [['person'], ['org', '[SEP]']])).rejects.toThrow(/labels\[1\]\[1\]: the label "\[SEP\]"/);
    // lookalikes are fine
    await expect(model.predictEntities('Alice moved to Paris.', ['<ENT>', 'ENT', '[CLS', 'sep'])).resolves.toBeDefined();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('training files: the record is bad at FILE line N with the key; --skip-bad skips and counts it', async () => {
    const file = path.join(tmp, 'bad.jsonl');
    const ok = { tokenized_text: ['Alice', 'went', 'home'], ner: [[0, 0, 'person']] };
    const bad = { tokenized_text: ['Bob', 'left'], ner: [[0, 0, 'person <<SEP>> x']] };
    fs.writeFileSync(file, [ok, bad, ok].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const reservedTokens = model.reservedLabelTokens();
    await expect(readTrainingFile(file, { reservedTokens })).rejects.toThrow(`${file} line 2: ner[0][2]: the label "person <<SEP>> x" contains the tokenizer's special token "<<SEP>>"`);
    const skipped = await readTrainingFile(file, { reservedTokens, skipBad: true });
    expect(skipped.examples.length).toBe(2);
    expect(skipped.skipped).toBe(1);
    // without the tokenizer's list (a plain read) the file is fine
    expect((await readTrainingFile(file)).examples.length).toBe(3);

    const pile = path.join(tmp, 'pile.json');
    const conv = [
      { from: 'human', value: 'Text: Alice met Bob.' },
      { from: 'gpt', value: "I've read this text." },
      { from: 'human', value: 'What describes [CLS] in the text?' },
      { from: 'gpt', value: '["Alice"]' },
    ];
    fs.writeFileSync(pile, JSON.stringify([{ conversations: conv }]));
    await expect(readTrainingFile(pile, { reservedTokens })).rejects.toThrow(/element 0 \(line 1\): conversations\[2\]\.value: the label "\[CLS\]"/);
  });

  test('gliner-tf train names the data file and line', async () => {
    const file = path.join(tmp, 'train.jsonl');
    fs.writeFileSync(file, JSON.stringify({ tokenized_text: ['a'], ner: [] }) + '\n' + JSON.stringify({ tokenized_text: ['Bob'], ner: [[0, 0, '<<ENT>>person']] }) + '\n');
    const r = await cliInProcess(['train', '--model', referenceModelDirs()[0], '--data', file, '--output', path.join(tmp, 'out'), '--steps', '1', '--quiet', '--backend', 'wasm']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file} line 2: ner[0][2]: the label "<<ENT>>person" contains the tokenizer's special token "<<ENT>>"`);
    expect(fs.existsSync(path.join(tmp, 'out'))).toBe(false);
  });

  test('the Trainer API refuses such an example before any step', () => {
    const examples = [{ tokens: ['Alice'], spans: [{ start: 0, end: 0, label: 'person' }] }, { tokens: ['Bob'], spans: [], negatives: ['x [FLERT]'] }];
    expect(() => new Trainer(model, examples, { config: { numSteps: 1 } })).toThrow(/training example 1: the label "x \[FLERT\]" contains the tokenizer's special token "\[FLERT\]"/);
  });
});

describe('a text word that is literally a prompt token', () => {
  test('a training word "<<ENT>>" is a word, not one more class (was "internal: batch shapes disagree")', async () => {
    await initBackend('wasm');
    const model = await GLiNER.fromPretrained(referenceModelDirs()[0]);
    try {
      const r = model.lossAndGradients([{ tokenized_text: ['Alice', '<<ENT>>', 'left'], ner: [[0, 0, 'person']] }], { classes: ['person', 'city'], training: false });
      expect(Number.isFinite(r.loss)).toBe(true);
    } finally {
      model.dispose();
    }
  });
});
