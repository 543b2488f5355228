import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as v8 from 'v8';
import * as vm from 'vm';
import * as zlib from 'zlib';
import fc from 'fast-check';
import { readSafetensors } from '../src/io/safetensors';
import {
  BatchPlanner,
  BatchPlannerOptions,
  PreparedBatch,
  TrainingDataError,
  TrainingExample,
  Rng,
  deriveSeed,
  detectFormat,
  normalizeGlinerRecord,
  parseStringList,
  prepareSpanBatch,
  readTrainingExamples,
  readTrainingFile,
  sampleBatchTypes,
} from '../src/training/data';
import { CsvSplitter, JsonArraySplitter, JsonlSplitter } from '../src/training/data/stream-split';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'reference');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-training-data-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function write(name: string, content: string | Buffer): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
}

async function collect(file: string, opts = {}): Promise<TrainingExample[]> {
  const out: TrainingExample[] = [];
  for await (const ex of readTrainingExamples(file, opts)) out.push(ex);
  return out;
}

/** Split `text` into chunks at the given cut points. */
function cut(text: string, points: number[]): string[] {
  const sorted = [...new Set(points.map((p) => p % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let prev = 0;
  for (const p of sorted) {
    out.push(text.slice(prev, p));
    prev = p;
  }
  out.push(text.slice(prev));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Splitters
// ---------------------------------------------------------------------------------------------

describe('stream splitters', () => {
  test('JSON array splitter yields each element whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 30 }), fc.boolean(), (values, points, pretty) => {
        const text = pretty ? JSON.stringify(values, null, 2) : JSON.stringify(values);
        const s = new JsonArraySplitter();
        const got: unknown[] = [];
        for (const chunk of cut(text, points)) for (const r of s.push(chunk)) got.push(JSON.parse(r.text));
        for (const r of s.end()) got.push(JSON.parse(r.text));
        expect(got).toEqual(JSON.parse(text)); // JSON round trip normalizes -0 and the like
      }),
      { numRuns: 300 },
    );
  });

  test('JSON array splitter reports element lines and container errors', () => {
    const s = new JsonArraySplitter();
    const recs = [...s.push('[\n {"a": "x\\"]}"},\n\n 17 ,"s",\n [1,\n2]\n]\n'), ...s.end()];
    expect(recs.map((r) => [r.index, r.line, r.text])).toEqual([
      [0, 2, '{"a": "x\\"]}"}'],
      [1, 4, '17'],
      [2, 4, '"s"'],
      [3, 5, '[1,\n2]'],
    ]);
    expect(() => new JsonArraySplitter().push('{"a": 1}')).toThrow(/expected '\['/);
    expect(() => new JsonArraySplitter().push('[1,]')).toThrow(/trailing ','/);
    expect(() => new JsonArraySplitter().push('[1] x')).toThrow(/after the end/);
    const unterminated = new JsonArraySplitter();
    unterminated.push('[{"a": [1, 2}');
    expect(() => unterminated.end()).toThrow(/unexpected end of file inside array element 0/);
  });

  test('JSONL splitter handles CRLF, blank lines and lines split across chunks', () => {
    const text = '{"a":1}\r\n\n  \n{"b":"\u00e9"}\n{"c":3}';
    for (const points of [[], [1, 3, 8, 9, 10], [4, 16, 17]]) {
      const s = new JsonlSplitter();
      const recs = [...cut(text, points).flatMap((c) => s.push(c)), ...s.end()];
      expect(recs.map((r) => [r.index, r.line, r.text])).toEqual([
        [0, 1, '{"a":1}'],
        [1, 4, '{"b":"\u00e9"}'],
        [2, 5, '{"c":3}'],
      ]);
    }
  });

  test('CSV splitter parses quoted fields whatever the chunking', () => {
    const field = fc.string({ maxLength: 6, unit: fc.constantFrom('a', 'b', ',', '"', '\n', ' ', 'é') });
    fc.assert(
      fc.property(fc.array(fc.array(field, { minLength: 2, maxLength: 3 }), { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 20 }), fc.boolean(), (rows, points, crlf) => {
        const text = rows.map((r) => r.map((f) => `"${f.replace(/"/g, '""')}"`).join(',')).join(crlf ? '\r\n' : '\n');
        const s = new CsvSplitter();
        const got = [...cut(text, points).flatMap((c) => s.push(c)), ...s.end()].map((r) => r.fields);
        expect(got).toEqual(rows);
      }),
      { numRuns: 300 },
    );
    const s = new CsvSplitter();
    const rows = [...s.push('a,b\nplain,"q ""x"", y"\n\nlast,'), ...s.end()];
    expect(rows.map((r) => [r.index, r.line, r.fields])).toEqual([
      [0, 1, ['a', 'b']],
      [1, 2, ['plain', 'q "x", y']],
      [2, 4, ['last', '']],
    ]);
  });
});

describe('parseStringList (ast.literal_eval of a list of str)', () => {
  test('reads JSON and Python reprs', () => {
    expect(parseStringList('["Paris", "New York"]')).toEqual(['Paris', 'New York']);
    expect(parseStringList("['Tim Cook\\'s <> person', \"it's <> x\", ]")).toEqual(["Tim Cook's <> person", "it's <> x"]);
    expect(parseStringList(' [ ] ')).toEqual([]);
    expect(parseStringList("['a\\tb\\x41\\u00e9\\U0001F600\\101', r'c\\d', 'e' \"f\", u'g', '\\q']")).toEqual(['a\tbAé😀A', 'c\\d', 'ef', 'g', '\\q']);
    expect(parseStringList("['''tri'ple''']")).toEqual(["tri'ple"]);
  });
  test('rejects what is not a list of strings', () => {
    expect(() => parseStringList('["a", 1]')).toThrow(/element 1 is not a string/);
    expect(() => parseStringList('["a"')).toThrow();
    expect(() => parseStringList('["a"] x')).toThrow(/after the closing bracket/);
    expect(() => parseStringList("'a'")).toThrow(/expected '\['/);
  });
});

// ---------------------------------------------------------------------------------------------
// Reading files
// ---------------------------------------------------------------------------------------------

describe('reading training files', () => {
  const glinerRecords = [
    { tokenized_text: ['Alice', 'Martin', 'visited', 'Paris', '.'], ner: [[0, 1, 'person'], [3, 3, 'city']] },
    { tokenized_text: ['Bob', 'works'], ner: [], ner_labels: ['person', 'company', 'person'], ner_negatives: ['date'] },
    { tokenized_text: [], ner: [], negative: ['animal'], extra_key: 1 },
  ];
  const glinerExpected: TrainingExample[] = [
    { tokens: ['Alice', 'Martin', 'visited', 'Paris', '.'], spans: [{ start: 0, end: 1, label: 'person' }, { start: 3, end: 3, label: 'city' }] },
    { tokens: ['Bob', 'works'], spans: [], labels: ['person', 'company'], negatives: ['date'] },
    { tokens: [], spans: [], negatives: ['animal'] },
  ];

  test('GLiNER JSON array', async () => {
    const file = write('gliner.json', JSON.stringify(glinerRecords, null, 1));
    expect(await detectFormat(file)).toEqual({ container: 'json-array', schema: 'gliner', gzip: false });
    const res = await readTrainingFile(file);
    expect(res.examples).toEqual(glinerExpected);
    expect(res.skipped).toBe(0);
    // readNegatives: false ignores ner_negatives / negative, as upstream effectively does for `negative`.
    const noNeg = await readTrainingFile(file, { readNegatives: false });
    expect(noNeg.examples.map((e) => e.negatives)).toEqual([undefined, undefined, undefined]);
  });

  test('GLiNER JSONL, also gzip-compressed', async () => {
    const text = glinerRecords.map((r) => JSON.stringify(r)).join('\r\n') + '\r\n\r\n';
    const file = write('gliner.jsonl', text);
    expect(await detectFormat(file)).toEqual({ container: 'jsonl', schema: 'gliner', gzip: false });
    expect(await collect(file)).toEqual(glinerExpected);
    const gz = write('gliner.jsonl.gz', zlib.gzipSync(Buffer.from(text)));
    expect(await detectFormat(gz)).toEqual({ container: 'jsonl', schema: 'gliner', gzip: true });
    expect(await collect(gz)).toEqual(glinerExpected);
    expect(await collect(file, { limit: 2 })).toEqual(glinerExpected.slice(0, 2));
  });

  test('empty files and arrays read as no examples', async () => {
    expect((await readTrainingFile(write('empty.json', ' [ ] '))).examples).toEqual([]);
    expect((await readTrainingFile(write('empty.jsonl', '\n'))).examples).toEqual([]);
  });

  test('Pile-NER-type conversations are converted like process_pilener.py', async () => {
    const record = {
      conversations: [
        { from: 'human', value: 'Text: Alice met BOB in Paris. Bob likes Paris-based e-mail.' },
        { from: 'gpt', value: "I've read this text." },
        { from: 'human', value: 'What describes Person in the text?' },
        { from: 'gpt', value: '["Alice", "bob", "Alice"]' },
        { from: 'human', value: 'What describes date in the text?' },
        { from: 'gpt', value: '[]' },
        { from: 'human', value: 'What describes city in the text?' },
        { from: 'gpt', value: "['Paris', 'Paris-based e-mail', 'Rome', '']" },
      ],
      id: 'ner_0',
    };
    const file = write('pile.json', JSON.stringify([record]));
    expect(await detectFormat(file)).toEqual({ container: 'json-array', schema: 'pilener', gzip: false });
    const [ex] = await collect(file);
    // Output of upstream's extract_entity_spans for this record (checked with the Python script),
    // except that the repeated mention "Alice" is not listed twice.
    expect(ex).toEqual({
      tokens: ['Alice', 'met', 'BOB', 'in', 'Paris', '.', 'Bob', 'likes', 'Paris-based', 'e-mail', '.'],
      spans: [
        { start: 0, end: 0, label: 'Person' },
        { start: 2, end: 2, label: 'Person' },
        { start: 6, end: 6, label: 'Person' },
        { start: 4, end: 4, label: 'city' },
        { start: 8, end: 9, label: 'city' },
      ],
      negatives: ['date'],
      // every type asked about, answered or not: evaluation prompts these
      askedTypes: ['Person', 'date', 'city'],
    });
    const [lower] = await collect(file, { lowercaseLabels: true });
    expect(lower.spans.map((s) => s.label)).toEqual(['person', 'person', 'person', 'city', 'city']);
  });

  test('NuNER records from JSONL and from the CSV the dataset ships as', async () => {
    const jsonl = write(
      'nuner.jsonl',
      [
        JSON.stringify({ input: 'Apple hired Tim Cook. Tim cook!', output: "['Apple <> company', 'Tim Cook <> person']" }),
        JSON.stringify({ input: 'Nothing here', output: [] }),
        JSON.stringify({ input: 'Rome is old', output: ['Rome <> city <> a city in Italy'] }),
      ].join('\n'),
    );
    expect(await detectFormat(jsonl)).toEqual({ container: 'jsonl', schema: 'nuner', gzip: false });
    expect(await collect(jsonl)).toEqual([
      {
        tokens: ['Apple', 'hired', 'Tim', 'Cook', '.', 'Tim', 'cook', '!'],
        spans: [
          { start: 0, end: 0, label: 'company' },
          { start: 2, end: 3, label: 'person' },
          { start: 5, end: 6, label: 'person' },
        ],
      },
      { tokens: ['Nothing', 'here'], spans: [] },
      { tokens: ['Rome', 'is', 'old'], spans: [{ start: 0, end: 0, label: 'city' }] },
    ]);
    const dropped = await readTrainingFile(jsonl, { dropEmpty: true });
    expect([dropped.examples.length, dropped.droppedEmpty, dropped.skipped]).toEqual([2, 1, 0]);
    const csv = write('nuner.csv', 'input,output\r\n"He said ""hi"",\nthen left","[\'hi <> greeting\']"\r\nX,[]\r\n');
    expect(await detectFormat(csv)).toEqual({ container: 'csv', schema: 'nuner', gzip: false });
    expect(await collect(csv)).toEqual([
      { tokens: ['He', 'said', '"', 'hi', '"', ',', 'then', 'left'], spans: [{ start: 3, end: 3, label: 'greeting' }] },
      { tokens: ['X'], spans: [] },
    ]);
  });

  test('errors name the file, the line or element, and the key', async () => {
    const good = JSON.stringify(glinerRecords[0]);
    const jsonl = write('bad.jsonl', [good, '', JSON.stringify({ tokenized_text: ['a', 'b', 'c'], ner: [[0, 0, 'x'], [2, 1, 'y']] })].join('\n'));
    await expect(collect(jsonl)).rejects.toThrow(`${jsonl} line 3: ner[1]: end 1 < start 2`);

    const cases: [unknown, string][] = [
      [{ tokenized_text: ['a'], ner: [[0, 0, 5]] }, 'ner[0][2]: label must be a string, got the number 5'],
      [{ tokenized_text: ['a', 'b'], ner: [[1, 2, 'x']] }, 'ner[0]: span [1, 2] is out of range for 2 words'],
      [{ tokenized_text: ['a', 7], ner: [] }, 'tokenized_text[1]: must be a string'],
      [{ tokenized_text: ['a'], ner: [[0, 0]] }, 'ner[0]: must be [start, end, label], got an array of length 2'],
      [{ tokenized_text: ['a'], ner: [[-1, 0, 'x']] }, 'ner[0][0]: start must be a non-negative integer'],
      [{ tokenized_text: ['a'], ner: [[0, 0.5, 'x']] }, 'ner[0][1]: end must be a non-negative integer'],
      [{ tokenized_text: ['a'] }, 'ner: missing'],
      [{ tokenized_text: ['a'], ner: [], ner_labels: ['x', ''] }, 'ner_labels[1]: label is an empty string'],
      [[1, 2], 'record must be a JSON object, got an array'],
    ];
    for (const [rec, message] of cases) {
      const file = write('bad-array.json', JSON.stringify([glinerRecords[0], glinerRecords[1], rec], null, 2));
      const err = await collect(file).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TrainingDataError);
      expect((err as Error).message).toContain(`${file} element 2 (line `);
      expect((err as Error).message).toContain(message);
    }

    const broken = write('broken.jsonl', `${good}\n{"tokenized_text": [}\n`);
    await expect(collect(broken)).rejects.toThrow(new RegExp(`${escapeRe(broken)} line 2: invalid JSON`));
    const pile = write('bad-pile.jsonl', JSON.stringify({ conversations: [{ from: 'human', value: 'Text: a b' }, { from: 'human', value: 'What describes x in the text?' }, { from: 'gpt', value: '[1]' }] }));
    await expect(collect(pile)).rejects.toThrow('line 1: conversations[2].value: answer is not a list of strings');
    const nuner = write('bad-nuner.jsonl', JSON.stringify({ input: 'a b', output: "['a <> x', 'no separator']" }));
    await expect(collect(nuner)).rejects.toThrow('line 1: output[1]: expected "mention <> type"');
  });

  test('skipBad skips and counts bad records; container errors stay fatal', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 10; i++) {
      if (i % 4 === 1) lines.push(JSON.stringify({ tokenized_text: ['a'], ner: [[0, 3, 'x']] }));
      else if (i === 6) lines.push('{not json');
      else lines.push(JSON.stringify({ tokenized_text: ['w', String(i)], ner: [[1, 1, 'num']] }));
    }
    const file = write('mixed.jsonl', lines.join('\n'));
    const skippedLines: number[] = [];
    const res = await readTrainingFile(file, { skipBad: true, onSkip: (e) => skippedLines.push(e.location.line ?? -1) });
    expect(res.skipped).toBe(4);
    expect(skippedLines).toEqual([2, 6, 7, 10]);
    expect(res.errors.map((e) => e.key)).toEqual(['ner[0]', 'ner[0]', '', 'ner[0]']);
    expect(res.examples.map((e) => e.tokens[1])).toEqual(['0', '2', '3', '4', '7', '8']);

    const truncated = write('truncated.json', `[${JSON.stringify(glinerRecords[0])}, {"tokenized_text": ["a"`);
    await expect(readTrainingFile(truncated, { skipBad: true })).rejects.toThrow(/unexpected end of file inside array element 1/);
    await expect(detectFormat(write('weird.txt', 'hello'))).rejects.toThrow(/cannot tell the format/);
    const latin1 = write('latin1.jsonl', Buffer.concat([Buffer.from('{"tokenized_text": ["caf'), Buffer.from([0xe9]), Buffer.from('"], "ner": []}\n')]));
    await expect(readTrainingFile(latin1, { skipBad: true })).rejects.toThrow(/invalid UTF-8/);
    await expect(detectFormat(write('nocols.csv', 'text,label\na,b\n'))).rejects.toThrow(/lacks the NuNER columns/);
    await expect(detectFormat(write('other.jsonl', '{"text": "x"}'))).rejects.toThrow(/cannot tell the schema/);
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------
// Streaming large files
// ---------------------------------------------------------------------------------------------

describe('streaming large files', () => {
  const N = 50_000;
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;

  function record(i: number): string {
    const words = Array.from({ length: 40 }, (_, j) => `w${(i * 7 + j) % 1000}`);
    return JSON.stringify({ tokenized_text: words, ner: [[i % 40, i % 40, `type ${i % 13}`]], note: 'x'.repeat(200) });
  }

  /** Stream `file`, measuring live heap growth halfway through; returns [count, growth bytes]. */
  async function streamAndMeasure(file: string): Promise<[number, number]> {
    gc();
    const base = process.memoryUsage().heapUsed;
    let count = 0;
    let growth = 0;
    let labelSum = 0;
    for await (const ex of readTrainingExamples(file)) {
      count++;
      labelSum += ex.spans[0].start;
      if (count === N / 2) {
        gc();
        growth = process.memoryUsage().heapUsed - base;
      }
    }
    expect(labelSum).toBeGreaterThan(0);
    return [count, growth];
  }

  test('50k-record JSONL and JSON array stream with bounded memory', async () => {
    const jsonl = path.join(dir, 'big.jsonl');
    const array = path.join(dir, 'big.json');
    const fj = fs.openSync(jsonl, 'w');
    const fa = fs.openSync(array, 'w');
    fs.writeSync(fa, '[\n');
    for (let start = 0; start < N; start += 1000) {
      const recs = Array.from({ length: 1000 }, (_, k) => record(start + k));
      fs.writeSync(fj, recs.join('\n') + '\n');
      fs.writeSync(fa, recs.join(',\n') + (start + 1000 < N ? ',\n' : '\n]\n'));
    }
    fs.closeSync(fj);
    fs.closeSync(fa);
    const size = fs.statSync(array).size;
    expect(size).toBeGreaterThan(25e6);

    for (const file of [jsonl, array]) {
      const [count, growth] = await streamAndMeasure(file);
      expect(count).toBe(N);
      // Holding the file as one string would cost >= its size; streaming keeps a chunk or two.
      expect(growth).toBeLessThan(Math.min(8e6, size / 4));
    }
    fs.rmSync(jsonl);
    fs.rmSync(array);
  });
});

// ---------------------------------------------------------------------------------------------
// Batching
// ---------------------------------------------------------------------------------------------

describe.each(['tiny_buckets8', 'tiny_buckets256'])('span batch equals the upstream collator (%s)', (name) => {
  const folder = path.join(FIXTURES, name);
  const training = JSON.parse(fs.readFileSync(path.join(folder, 'expected_training.json'), 'utf8')) as {
    labels: string[];
    examples: unknown[];
  };
  const config = JSON.parse(fs.readFileSync(path.join(folder, 'gliner_config.json'), 'utf8')) as { max_len: number; max_width: number };
  const tensors = readSafetensors(new Uint8Array(fs.readFileSync(path.join(folder, 'expected_tensors.safetensors'))), name).tensors;
  const examples = training.examples.map((r) => normalizeGlinerRecord(r));

  function expectMatchesFixture(batch: PreparedBatch): void {
    const labels = tensors.get('train.labels')!;
    const spanIdx = tensors.get('train.span_idx')!;
    const spanMask = tensors.get('train.span_mask')!;
    const textLengths = tensors.get('train.text_lengths')!;
    expect([batch.batchSize, batch.numSpans, batch.numClasses]).toEqual(labels.shape);
    expect([batch.batchSize, batch.numSpans, 2]).toEqual(spanIdx.shape);
    expect(Array.from(batch.labels)).toEqual(Array.from(labels.data));
    expect(Array.from(batch.spanIdx)).toEqual(Array.from(spanIdx.data));
    expect(Array.from(batch.spanMask)).toEqual(Array.from(spanMask.data));
    expect(Array.from(batch.textLengths)).toEqual(Array.from(textLengths.data));
    expect(batch.examples.map((e) => e.classes)).toEqual(examples.map(() => training.labels));
  }

  test('prepareSpanBatch with the fixed labels', () => {
    const batch = prepareSpanBatch(
      examples,
      examples.map(() => training.labels),
      { maxLen: config.max_len, maxWidth: config.max_width },
    );
    expectMatchesFixture(batch);
    expect(Array.from(batch.classMask)).toEqual(new Array(3 * 4).fill(1));
    // Gold spans are all narrower than max_width in these fixtures.
    expect(batch.dropped).toEqual({ truncated: 0, tooWide: 0, typeNotPrompted: 0 });
  });

  test('BatchPlanner with fixedLabels in file order', () => {
    const planner = new BatchPlanner(examples, {
      batchSize: 3,
      maxLen: config.max_len,
      maxWidth: config.max_width,
      seed: 0,
      fixedLabels: training.labels,
      shuffle: false,
      bucketBatches: 0,
    });
    expectMatchesFixture(planner.nextBatch());
  });
});

describe('span batch layout', () => {
  test('truncation, width limit, empty texts and per-example classes', () => {
    const examples: TrainingExample[] = [
      {
        tokens: ['a', 'b', 'c', 'd', 'e'],
        spans: [
          { start: 0, end: 1, label: 'x' },
          { start: 1, end: 4, label: 'x' }, // beyond maxLen 4
          { start: 0, end: 2, label: 'y' }, // 3 words > maxWidth 2
          { start: 3, end: 3, label: 'z' }, // type not prompted
        ],
      },
      { tokens: [], spans: [] },
    ];
    const batch = prepareSpanBatch(examples, [['x', 'y', 'x'], []], { maxLen: 4, maxWidth: 2 });
    expect(batch.examples.map((e) => e.tokens)).toEqual([['a', 'b', 'c', 'd'], ['[PAD]']]);
    expect(batch.examples.map((e) => e.classes)).toEqual([['x', 'y'], []]);
    expect([batch.maxWords, batch.numSpans, batch.numClasses]).toEqual([4, 8, 2]);
    expect(Array.from(batch.textLengths)).toEqual([4, 1]);
    expect(batch.dropped).toEqual({ truncated: 1, tooWide: 1, typeNotPrompted: 1 });
    expect(Array.from(batch.spanIdx.slice(0, 16))).toEqual([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4]);
    expect(Array.from(batch.spanIdx.slice(16))).toEqual([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(batch.spanMask)).toEqual([1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    const ones = [...batch.labels.keys()].filter((i) => batch.labels[i] === 1);
    expect(ones).toEqual([(0 * 8 + 0 * 2 + 1) * 2 + 0]); // (0, 1) labelled x
    expect(Array.from(batch.classMask)).toEqual([1, 1, 0, 0]);
  });
});

describe('entity type sampling', () => {
  const batch: TrainingExample[] = [
    { tokens: ['a', 'b', 'c'], spans: [{ start: 0, end: 0, label: 'person' }, { start: 1, end: 1, label: 'person' }, { start: 2, end: 2, label: 'city' }] },
    { tokens: ['d'], spans: [{ start: 0, end: 0, label: 'date' }] },
    { tokens: ['e', 'f'], spans: [{ start: 0, end: 0, label: 'org' }, { start: 1, end: 1, label: 'drug' }] },
    { tokens: ['g'], spans: [] },
    { tokens: ['h'], spans: [{ start: 0, end: 0, label: 'date' }], negatives: ['weapon', 'animal'] },
    { tokens: ['i'], spans: [{ start: 0, end: 0, label: 'date' }], labels: ['date', 'zeta', 'alpha'], negatives: ['ignored'] },
  ];
  const batchTypes = new Set(batch.flatMap((e) => e.spans.map((s) => s.label)));

  test('negatives come from the batch, respect the ratio and max_types', () => {
    for (const maxNegTypeRatio of [0, 1, 3]) {
      let maxNegSeen = 0;
      for (let seed = 0; seed < 300; seed++) {
        const types = sampleBatchTypes(batch, { maxNegTypeRatio, maxTypes: 100 }, new Rng(seed));
        for (let b = 0; b < 4; b++) {
          const positives = new Set(batch[b].spans.map((s) => s.label));
          const negs = types[b].filter((t) => !positives.has(t));
          expect(new Set(types[b]).size).toBe(types[b].length);
          expect([...positives].every((p) => types[b].includes(p))).toBe(true);
          expect(negs.every((t) => batchTypes.has(t))).toBe(true);
          // At most (#gold spans * ratio) sampled negatives (some may repeat a positive).
          expect(negs.length).toBeLessThanOrEqual(batch[b].spans.length * maxNegTypeRatio);
          if (b === 0) maxNegSeen = Math.max(maxNegSeen, negs.length);
        }
        // Own negatives replace in-batch sampling; ner_labels are used as they are.
        expect(new Set(types[4])).toEqual(new Set(['date', 'weapon', 'animal']));
        expect(types[5]).toEqual(['date', 'zeta', 'alpha']);
      }
      // Example 0 (2 gold types, 3 spans, 5 batch types) reaches all 3 other types once r >= 1.
      expect(maxNegSeen).toBe(maxNegTypeRatio === 0 ? 0 : 3);
    }
    for (let seed = 0; seed < 100; seed++) {
      const types = sampleBatchTypes(batch, { maxNegTypeRatio: 3, maxTypes: 2 }, new Rng(seed));
      types.slice(0, 5).forEach((t) => expect(t.length).toBeLessThanOrEqual(2));
      expect(types[5]).toHaveLength(3); // ner_labels are not cut, as upstream
    }
    const withNeg = sampleBatchTypes(batch, { addNegativesToNerLabels: true }, new Rng(1));
    expect(withNeg[5]).toEqual(['date', 'zeta', 'alpha', 'ignored']);
  });

  test('shuffleTypes and randomDrop', () => {
    const fixedOrder = sampleBatchTypes(batch, { maxNegTypeRatio: 0, shuffleTypes: false }, new Rng(3));
    expect(fixedOrder[0]).toEqual(['person', 'city']);
    expect(fixedOrder[4]).toEqual(['date', 'weapon', 'animal']);
    const orders = new Set<string>();
    const dropSizes = new Set<number>();
    for (let seed = 0; seed < 200; seed++) {
      orders.add(sampleBatchTypes(batch, { maxNegTypeRatio: 0 }, new Rng(seed))[4].join(','));
      const dropped = sampleBatchTypes(batch, { maxNegTypeRatio: 0, randomDrop: true }, new Rng(seed));
      dropSizes.add(dropped[4].length);
      expect(dropped[3]).toEqual([]); // nothing to keep, nothing drawn
    }
    expect(orders.size).toBe(6); // all permutations of 3 types
    expect([...dropSizes].sort()).toEqual([1, 2, 3]);
  });
});

describe('BatchPlanner', () => {
  const examples: TrainingExample[] = Array.from({ length: 103 }, (_, i) => {
    const n = 1 + ((i * 37) % 29);
    return {
      tokens: Array.from({ length: n }, (_, j) => `t${j}`),
      spans: [{ start: 0, end: 0, label: `type${i % 7}` }, { start: n - 1, end: n - 1, label: `type${(i + 3) % 7}` }],
    };
  });
  const options: BatchPlannerOptions = { batchSize: 8, maxLen: 20, maxWidth: 4, seed: 42, maxTypes: 5, bucketBatches: 4 };

  function summary(b: PreparedBatch): unknown {
    return {
      position: b.position,
      indices: b.examples.map((e) => e.index),
      classes: b.examples.map((e) => e.classes),
      labels: Array.from(b.labels),
    };
  }

  test('every example once per epoch; buckets sorted by length', () => {
    const planner = new BatchPlanner(examples, options);
    expect(planner.batchesPerEpoch()).toBe(13);
    for (const epoch of [0, 1]) {
      const plan = planner.epochPlan(epoch);
      expect(plan.flat().sort((a, b) => a - b)).toEqual(examples.map((_, i) => i));
      for (const b of plan) {
        const lens = b.map((i) => Math.min(examples[i].tokens.length, 20));
        expect(lens).toEqual([...lens].sort((x, y) => y - x));
      }
    }
    expect(planner.epochPlan(0)).not.toEqual(planner.epochPlan(1));
    // Bucketing cuts padding compared with plain shuffling.
    const padding = (p: BatchPlanner): number =>
      p.epochPlan(0).reduce((sum, b) => {
        const lens = b.map((i) => Math.min(examples[i].tokens.length, 20));
        return sum + b.length * Math.max(...lens) - lens.reduce((x, y) => x + y, 0);
      }, 0);
    expect(padding(planner)).toBeLessThan(padding(new BatchPlanner(examples, { ...options, bucketBatches: 0 })) / 2);
    const dropLast = new BatchPlanner(examples, { ...options, dropLast: true });
    expect(dropLast.batchesPerEpoch()).toBe(12);
    expect(dropLast.epochPlan(0).every((b) => b.length === 8)).toBe(true);
  });

  test('deterministic under a seed, and identical after state save/restore mid-epoch', () => {
    const a = new BatchPlanner(examples, options);
    const b = new BatchPlanner(examples, options);
    const seqA = Array.from({ length: 30 }, () => summary(a.nextBatch()));
    const seqB = Array.from({ length: 30 }, () => summary(b.nextBatch()));
    expect(seqA).toEqual(seqB);
    expect(seqA[13]).toMatchObject({ position: { epoch: 1, batch: 0 } });
    const other = new BatchPlanner(examples, { ...options, seed: 43 });
    expect(summary(other.nextBatch())).not.toEqual(seqA[0]);

    // Save after 17 batches (mid epoch 1), restore in a fresh planner, continue.
    const c = new BatchPlanner(examples, options);
    for (let i = 0; i < 17; i++) c.nextBatch();
    const saved = JSON.parse(JSON.stringify(c.state()));
    expect(saved).toEqual({ version: 1, seed: 42, epoch: 1, batch: 4, numExamples: 103, batchSize: 8 });
    const d = new BatchPlanner(examples, options);
    d.restore(saved);
    expect(Array.from({ length: 13 }, () => summary(d.nextBatch()))).toEqual(seqA.slice(17));
    expect(() => new BatchPlanner(examples.slice(1), options).restore(saved)).toThrow(/numExamples/);
    // Restoring at the end of an epoch rolls over to the next one.
    d.restore({ ...saved, epoch: 0, batch: 13 });
    expect(summary(d.nextBatch())).toEqual(seqA[13]);
  });

  test('sampled batches are consistent with their classes', () => {
    const planner = new BatchPlanner(examples, { ...options, maxNegTypeRatio: 2 });
    for (let i = 0; i < 20; i++) {
      const batch = planner.nextBatch();
      batch.examples.forEach((ex, b) => {
        expect(ex.classes.length).toBeLessThanOrEqual(5);
        const source = examples[ex.index];
        // Every positive type of the example is prompted (2 gold types <= maxTypes 5).
        for (const s of source.spans) expect(ex.classes).toContain(s.label);
        const ones = batch.labels.slice(b * batch.numSpans * batch.numClasses, (b + 1) * batch.numSpans * batch.numClasses).reduce((x, y) => x + y, 0);
        expect(ones).toBe(ex.spans.length);
      });
    }
  });
});

describe('Rng', () => {
  test('getState/setState continue the stream exactly', () => {
    const r = new Rng(7);
    for (let i = 0; i < 10; i++) r.nextUint32();
    const state = r.getState();
    const next = Array.from({ length: 5 }, () => r.nextUint32());
    const s = new Rng(123);
    s.setState(state);
    expect(Array.from({ length: 5 }, () => s.nextUint32())).toEqual(next);
    expect(Array.from({ length: 5 }, () => Rng.fromState(state).nextUint32())).toEqual(new Array(5).fill(next[0]));
    expect(() => s.setState([0, 0, 0, 0])).toThrow();
  });

  test('int, sample and shuffle stay in range and look uniform', () => {
    const r = new Rng(1);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60000; i++) counts[r.int(0, 5)]++;
    counts.forEach((c) => expect(Math.abs(c - 10000)).toBeLessThan(500));
    const smp = r.sample(['a', 'b', 'c', 'd'], 3);
    expect(new Set(smp).size).toBe(3);
    expect(r.shuffle([1, 2, 3, 4, 5]).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(r.nextFloat()).toBeLessThan(1);
    expect(deriveSeed(1, 2, 3)).not.toBe(deriveSeed(1, 3, 2));
    expect(new Rng(1).nextUint32()).not.toBe(new Rng(2).nextUint32());
  });
});
