/**
 * Hostile model files: decompression and allocation bombs (measured in a child process with a
 * small heap), ReDoS patterns in tokenizer.json, deep nesting, absurd config values, NaN / I32
 * weights, duplicate safetensors names. Every input is built here.
 */
import fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { parseGlinerConfig } from '../src/config';
import { validateEncoderConfig } from '../src/config-validation';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { readGlinerConfig } from '../src/io/model-dir';
import { readTorchCheckpoint } from '../src/io/torch-checkpoint';
import { crc32 } from '../src/io/zip';
import { loadTokenizerFromDir } from '../src/io/tokenizer-files';
import { parseTokenizerJson } from '../src/tokenizer/tokenizer-json';
import { SafeRegex, compileModelRegex } from '../src/tokenizer/safe-regex';
import { GlinerModel } from '../src/model';
import { TensorMap } from '../src/io/host-tensor';
import { runTs, ROOT } from './helpers/cli';
import { TINY_GLINER_DIR } from './helpers/fake-hub';

const CHILD = path.join(ROOT, 'test', 'helpers', 'read-file-child.ts');
const MiB = 1024 * 1024;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-hostile-io-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// Building hostile archives

interface Entry { name: string; data: Uint8Array; method: 0 | 8; size: number; crc: number }

/** A zip with the given (already compressed, for method 8) entries; sizes as declared. */
function zipOf(entries: Entry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(e.method, 8);
    local.writeUInt32LE(e.crc, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.size, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, Buffer.from(e.data));
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(45, 4);
    central.writeUInt16LE(45, 6);
    central.writeUInt16LE(e.method, 10);
    central.writeUInt32LE(e.crc, 16);
    central.writeUInt32LE(e.data.length, 20);
    central.writeUInt32LE(e.size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + e.data.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

const stored = (name: string, data: Uint8Array): Entry => ({ name, data, method: 0, size: data.length, crc: crc32(data) });

/** Raw deflate of `n` zero bytes, streamed (never holds the n bytes): about n / 1030 bytes. */
async function deflatedZeros(n: number): Promise<Buffer> {
  const z = zlib.createDeflateRaw({ level: 9 });
  const parts: Buffer[] = [];
  z.on('data', (c: Buffer) => parts.push(c));
  const done = new Promise<void>((resolve) => z.on('end', () => resolve()));
  const chunk = Buffer.alloc(MiB);
  for (let left = n; left > 0; left -= MiB) {
    if (!z.write(left >= MiB ? chunk : chunk.subarray(0, left))) await new Promise((r) => z.once('drain', r));
  }
  z.end();
  await done;
  return Buffer.concat(parts);
}

const enc = new TextEncoder();
const u32le = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const str = (s: string): number[] => [0x58, ...u32le(enc.encode(s).length), ...enc.encode(s)];
const glob = (m: string, n: string): number[] => [0x63, ...enc.encode(`${m}\n${n}\n`)];
const int = (n: number): number[] => (n < 256 ? [0x4b, n] : [0x4a, ...u32le(n)]);
/** {'w': one-element FloatStorage tensor on storage '0' with `numel` elements}. */
function oneTensorPickle(numel: number): Uint8Array {
  return Uint8Array.from([
    0x80, 2, 0x7d, 0x28, ...str('w'),
    ...glob('torch._utils', '_rebuild_tensor_v2'),
    0x28, 0x28, ...str('storage'), ...glob('torch', 'FloatStorage'), ...str('0'), ...str('cpu'), ...int(numel), 0x74, 0x51,
    ...int(0), 0x28, ...int(1), 0x74, 0x28, ...int(1), 0x74, 0x89, ...glob('collections', 'OrderedDict'), 0x29, 0x52, 0x74, 0x52,
    0x75, 0x2e,
  ]);
}

interface ChildResult { ok: boolean; message: string; baselineRss: number; peakRss: number; ms: number }

/** Read `file` with `reader` in a child with a 256 MB V8 heap; returns what it printed. */
function readInChild(reader: 'weights' | 'tokenizer' | 'config', file: string): ChildResult {
  const r = runTs(['--max-old-space-size=256', CHILD, reader, file]);
  if (r.code !== 0) throw new Error(`child died (code ${r.code}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

/** Stated bound for every bomb: RSS grows by at most 64 MiB + 16x the file size. */
const rssBound = (fileBytes: number): number => 64 * MiB + 16 * fileBytes;

describe('decompression and allocation bombs (child process, 256 MB heap)', () => {
  const report: string[] = [];
  afterAll(() => {
    // The figures docs/robustness.md quotes.
    if (report.length) process.stderr.write(`bomb measurements:\n  ${report.join('\n  ')}\n`);
  });

  function expectBounded(what: string, file: string, r: ChildResult, ...fragments: string[]): void {
    const size = fs.statSync(file).size;
    const growth = r.peakRss - r.baselineRss;
    report.push(`${what}: ${(size / MiB).toFixed(2)} MiB file, RSS +${(growth / MiB).toFixed(1)} MiB, ${r.ms} ms: ${r.message.slice(0, 160)}`);
    expect(r.ok).toBe(false);
    expect(r.message).toContain(file);
    for (const f of fragments) expect(r.message).toContain(f);
    expect(growth).toBeLessThan(rssBound(size));
  }

  let gigaZeros: Buffer;
  beforeAll(async () => {
    gigaZeros = await deflatedZeros(1024 * MiB); // ~1 MB that inflates to 1 GiB
  }, 120_000);

  test('an 8 MB pickle of EMPTY_DICT opcodes', () => {
    const pkl = Buffer.alloc(8 * MiB, 0x7d);
    pkl[0] = 0x80;
    pkl[1] = 2;
    const file = path.join(tmp, 'empty-dicts.bin');
    fs.writeFileSync(file, zipOf([stored('archive/data.pkl', pkl), stored('archive/version', enc.encode('3\n'))]));
    expectBounded('8 MB EMPTY_DICT pickle', file, readInChild('weights', file), 'archive/data.pkl', 'pickle bomb');
  }, 120_000);

  test('an 8 MB pickle appending EMPTY_DICTs to one list, and a 7 MB one of distinct memo entries', () => {
    const n = 4 * MiB;
    const append = Buffer.alloc(3 + 2 * n);
    append.set([0x80, 2, 0x5d]);
    for (let i = 0; i < n; i++) append.set([0x7d, 0x61], 3 + 2 * i);
    const memo = Buffer.alloc(3 + 7 * MiB);
    memo.set([0x80, 2, 0x7d]);
    for (let i = 0; i < MiB; i++) memo.set([0x72, ...u32le(i), 0x30, 0x7d], 3 + 7 * i);
    for (const [what, pkl] of [['APPEND', append], ['LONG_BINPUT', memo]] as const) {
      const file = path.join(tmp, `${what}.bin`);
      fs.writeFileSync(file, zipOf([stored('archive/data.pkl', pkl)]));
      expectBounded(`${(pkl.length / MiB).toFixed(0)} MB ${what} pickle`, file, readInChild('weights', file), 'pickle bomb');
    }
  }, 120_000);

  test('a 1 MB zip whose data.pkl inflates 1000:1', () => {
    const file = path.join(tmp, 'pkl-bomb.bin');
    fs.writeFileSync(file, zipOf([{ name: 'archive/data.pkl', data: gigaZeros, method: 8, size: 1024 * MiB, crc: 0 }]));
    expectBounded('1 MB zip, data.pkl -> 1 GiB', file, readInChild('weights', file), 'archive/data.pkl', 'decompression bomb');
  }, 120_000);

  test('a 1 MB file with one 1-element tensor in a 1 GiB deflated storage', () => {
    const file = path.join(tmp, 'storage-bomb.bin');
    const pkl = oneTensorPickle(256 * MiB); // 256 Mi floats = the 1 GiB entry, so the sizes agree
    fs.writeFileSync(file, zipOf([stored('archive/data.pkl', pkl), { name: 'archive/data/0', data: gigaZeros, method: 8, size: 1024 * MiB, crc: 0 }]));
    expectBounded('1 MB file, 1-element tensor in a 1 GiB storage', file, readInChild('weights', file), 'archive/data/0', 'decompression bomb');
  }, 120_000);

  test('a tokenizer.json nested 100,000 levels deep', () => {
    const dir = path.join(tmp, 'deep-tok');
    fs.mkdirSync(dir, { recursive: true });
    const n = 100_000;
    let inner = '{"type":"Lowercase"}';
    inner = '{"type":"Sequence","normalizers":['.repeat(n) + inner + ']}'.repeat(n);
    const file = path.join(dir, 'tokenizer.json');
    fs.writeFileSync(file, `{"model":{"type":"Unigram","vocab":[["<unk>",0]],"unk_id":0},"normalizer":${inner}}`);
    expectBounded('deep tokenizer.json', file, readInChild('tokenizer', file), 'nests deeper than 64');
  }, 120_000);

  test('gliner_config.json with num_hidden_layers: 1e6', () => {
    const dir = path.join(tmp, 'huge-config');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'gliner_config.json');
    fs.writeFileSync(file, JSON.stringify({ model_name: 'x', encoder_config: { model_type: 'deberta-v2', num_hidden_layers: 1e6 } }));
    expectBounded('num_hidden_layers 1e6', file, readInChild('config', file), "'num_hidden_layers'", '1000000');
  }, 120_000);
});

describe('reader fuzz with budgets on (in process)', () => {
  test('mutated torch archives and pickles never abort, hang or allocate past the budget', () => {
    const base = zipOf([stored('archive/data.pkl', oneTensorPickle(4)), stored('archive/data/0', new Uint8Array(16))]);
    expect(readTorchCheckpoint(base, 'base.bin').get('w')!.shape).toEqual([1]);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (muts) => {
        const b = Buffer.from(base);
        for (const [i, v] of muts) b[i] = v;
        try {
          readTorchCheckpoint(b, 'fuzz.bin', { maxInflatedBytes: 1 * MiB });
        } catch (e) {
          expect((e as Error).message).toContain('fuzz.bin');
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('random JSON as gliner_config.json / tokenizer.json gives an Error naming the source, never a TypeError', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.jsonValue({ maxDepth: 4 }), (a, b) => {
        for (const raw of [a, { encoder_config: a }, { max_width: b, encoder_config: { num_hidden_layers: b } }]) {
          try {
            parseGlinerConfig(raw, 'fz/gliner_config.json', b);
          } catch (e) {
            expect(e).not.toBeInstanceOf(TypeError);
            expect((e as Error).message).toContain('fz/gliner_config.json');
          }
        }
        for (const raw of [a, { model: { type: 'Unigram', vocab: [['<unk>', 0]] }, normalizer: a, pre_tokenizer: b }]) {
          try {
            parseTokenizerJson(raw, 'fz/tokenizer.json');
          } catch (e) {
            expect(e).not.toBeInstanceOf(TypeError);
            expect((e as Error).message).toContain('fz/tokenizer.json');
          }
        }
      }),
      { numRuns: 1500 },
    );
  });

  test('random patterns either compile and run linearly, or are refused with the key named', () => {
    const piece = fc.constantFrom('a', 'b', '(', ')', '|', '*', '+', '?', '{2,}', '{1,3}', '[ab]', '[^a]', '\\s', '\\S', '\\p{L}', '.', '^', '$', '(?:', '(?!\\S)', '\\b', '\\1', '(?<=a)');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }), (parts) => {
        const p = parts.join('');
        let re: SafeRegex;
        try {
          re = compileModelRegex(p, 'fz.json: pattern');
        } catch (e) {
          expect((e as Error).message).toContain('fz.json: pattern');
          return;
        }
        const out = re.matches('ab a\nbb'.repeat(200));
        for (const [x, y] of out) expect(y).toBeGreaterThanOrEqual(x);
      }),
      { numRuns: 1500 },
    );
  });

  test('random opcode streams in data.pkl are refused with the file named', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 400 }), (pkl) => {
        const b = zipOf([stored('archive/data.pkl', Uint8Array.from([0x80, 2, ...pkl]))]);
        try {
          readTorchCheckpoint(b, 'ops.bin', { pickleBudget: { maxObjects: 50, maxMemo: 50, maxStack: 50, maxMarks: 5 } });
        } catch (e) {
          expect((e as Error).message).toContain('ops.bin');
        }
      }),
      { numRuns: 3000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('regular expressions from model files', () => {
  const evil = '(a+)+$';

  test('a Replace normalizer with (a+)+$ on a 50-character text finishes, with the right result', () => {
    const tok = parseTokenizerJson({
      model: { type: 'Unigram', vocab: [['<unk>', 0], ['▁', -1], ['a', -2], ['b', -2], ['X', -2]], unk_id: 0 },
      normalizer: { type: 'Replace', pattern: { Regex: evil }, content: 'X' },
    }).model;
    const text = 'a'.repeat(49) + 'b'; // the classic catastrophic case: no match, 2^49 paths
    expect(tok.encodeAsPieces(text).join('')).toBe(text);
    expect(tok.encodeAsPieces('baaaa').join('')).toBe('bX');
    const re = new SafeRegex(evil);
    expect(re.matches('a'.repeat(100_000) + 'b')).toEqual([]);
  });

  // Each would take a backtracking engine longer than the age of the universe on this input.
  test.each([
    ['(a|aa)*c', []],
    ['^(a|a?)+$', []],
    ['(x+x+)+y', []],
    ['(\\w+\\s?)*$', [[20_001, 20_001]]],
  ])('catastrophic pattern %s on 20,000 letters and a "!" gives the right matches', (p, want) => {
    const re = new SafeRegex(p as string);
    expect(re.matches('a'.repeat(20_000) + '!')).toEqual(want);
  });

  // Patterns real tokenizer.json files carry (GPT-2 / RoBERTa / ModernBERT byte-level split, Llama-3
  // split without its (?i:) group, DeBERTa / XLM-R Replace normalizers, BERT-ish punctuation).
  const REAL = [
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    "(?:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ' {2,}',
    '\\s+',
    '[\\u0000-\\u001f\\u007f]',
    '\\p{P}|[!-/:-@\\[-`{-~]',
    '^\\s+|\\s+$',
    '\\b\\w+\\b',
    '[a-z]+?x|.',
  ];
  const alphabet = fc.constantFrom('a', 'B', 'z', ' ', '  ', '\n', '\r', '\t', "'s", "'ll", '1', '23', '4567', '.', '!', '-', 'é', '中', '😀', '\u00a0', 'x', '_');
  const text = fc.array(alphabet, { maxLength: 40 }).map((a) => a.join(''));

  test.each(REAL)('matches exactly what JS RegExp matches: %s', (p) => {
    const re = new SafeRegex(p);
    const js = new RegExp(p, 'gu');
    fc.assert(
      fc.property(text, (s) => {
        const want = [...s.matchAll(js)].map((m) => [m.index!, m.index! + m[0].length]);
        expect(re.matches(s)).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  test('(?i:...) groups are case-insensitive (Llama-3 style contractions)', () => {
    const re = new SafeRegex("(?i:'s|'ll)|\\p{L}+");
    expect(re.matches("IT'S HE'LL").map(([a, b]) => "IT'S HE'LL".slice(a, b))).toEqual(['IT', "'S", 'HE', "'LL"]);
  });

  test.each([
    ['(a)\\1', 'backreferences'],
    ['(?<=a)b', 'lookbehind'],
    ['a(?=bc)', 'lookahead longer than one character'],
    ['a{100000}', 'too large'],
    ['(', 'missing )'],
  ])('refuses %s with the file and key named', (p, why) => {
    expect(() => compileModelRegex(p, 'tok.json: normalizer.pattern.Regex')).toThrow(why);
    expect(() => compileModelRegex(p, 'tok.json: normalizer.pattern.Regex')).toThrow('tok.json: normalizer.pattern.Regex');
  });
});

// ---------------------------------------------------------------------------------------------

describe('config values are validated against their meaning', () => {
  const tinyRaw = (): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(TINY_GLINER_DIR, 'gliner_config.json'), 'utf8'));

  test.each([
    ['max_width', 0], ['max_len', 0], ['max_width', -3], ['max_len', 2.5], ['hidden_size', -1], ['hidden_size', 1e9],
    ['dropout', 1.5], ['max_types', 0], ['num_rnn_layers', 1e6], ['class_token_index', -7], ['vocab_size', 0],
  ])('gliner_config.json %s: %p', (key, value) => {
    const raw = { ...tinyRaw(), [key]: value };
    expect(() => parseGlinerConfig(raw, 'm/gliner_config.json')).toThrow(`m/gliner_config.json: key '${key}'`);
  });

  test.each([
    ['num_hidden_layers', 1e6], ['num_hidden_layers', 0], ['layer_norm_eps', -1], ['layer_norm_eps', 0], ['hidden_size', 100.5],
    ['num_attention_heads', 0], ['intermediate_size', -5], ['vocab_size', 1e12], ['max_position_embeddings', 0],
    ['hidden_dropout_prob', -0.1], ['attention_probs_dropout_prob', 1], ['pad_token_id', -1], ['type_vocab_size', 1e9],
  ])('encoder config %s: %p', (key, value) => {
    const raw = tinyRaw();
    raw.encoder_config = { ...(raw.encoder_config as object), [key]: value };
    expect(() => parseGlinerConfig(raw, 'm/gliner_config.json')).toThrow(`m/gliner_config.json (encoder_config): key '${key}'`);
  });

  test('hidden size not divisible by heads, pad id outside the vocabulary, and too many parameters', () => {
    expect(() => validateEncoderConfig({ hidden_size: 100, num_attention_heads: 3 }, 'c.json')).toThrow('c.json: hidden_size 100 is not divisible by num_attention_heads 3');
    expect(() => validateEncoderConfig({ vocab_size: 10, pad_token_id: 10 }, 'c.json')).toThrow('c.json: pad_token_id 10');
    expect(() => validateEncoderConfig({ hidden_size: 16384, num_attention_heads: 16, num_hidden_layers: 256, intermediate_size: 65536 }, 'c.json')).toThrow(
      'GLINER_TF_MAX_PARAMETERS',
    );
  });

  test.each([['null', 'null'], ['[]', 'an array'], ['"a string"', 'a string'], ['42', 'a number']])('gliner_config.json that is %s', (text, what) => {
    const dir = fs.mkdtempSync(path.join(tmp, 'cfg-'));
    fs.writeFileSync(path.join(dir, 'gliner_config.json'), text);
    expect(() => readGlinerConfig(dir)).toThrow(`${path.join(dir, 'gliner_config.json')}: must be a JSON object`);
    expect(() => readGlinerConfig(dir)).toThrow(what);
  });

  test('the fixture configs still load', () => {
    expect(readGlinerConfig(TINY_GLINER_DIR).encoder.numHiddenLayers).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('weights that would silently give wrong results', () => {
  function tinyWeights(): TensorMap {
    return readSafetensors(fs.readFileSync(path.join(TINY_GLINER_DIR, 'model.safetensors')), 'tiny').tensors;
  }

  test.each([NaN, Infinity, -Infinity])('a %p weight is refused at load, naming the file and tensor', (bad) => {
    const config = readGlinerConfig(TINY_GLINER_DIR);
    const weights = tinyWeights();
    const name = [...weights.keys()].find((k) => k.includes('encoder.layer.1.output.dense.weight'))!;
    (weights.get(name)!.data as Float32Array)[5] = bad;
    const model = new GlinerModel(config);
    try {
      expect(() => model.loadWeights(weights, 'x/model.safetensors')).toThrow(/x\/model\.safetensors: cannot load weights/);
      expect(() => model.loadWeights(weights, 'x/model.safetensors')).toThrow(`'${name}' holds a non-finite value (${bad}) at flat index 5`);
    } finally {
      model.dispose();
    }
  });

  test('an I32 weight is refused naming the weights file and the tensor', () => {
    const config = readGlinerConfig(TINY_GLINER_DIR);
    const weights = tinyWeights();
    const name = 'prompt_rep_layer.0.bias';
    const t = weights.get(name)!;
    weights.set(name, { dtype: 'I32', shape: t.shape, data: new Int32Array(t.data.length) });
    const model = new GlinerModel(config);
    try {
      expect(() => model.loadWeights(weights, 'x/model.safetensors')).toThrow(`x/model.safetensors: cannot load weights:\n  '${name}' has dtype I32`);
    } finally {
      model.dispose();
    }
  });

  test('a safetensors header naming the same tensor twice is refused', () => {
    const good = Buffer.from(writeSafetensors(new Map([['a', { dtype: 'F32', shape: [1], data: Float32Array.of(1) }], ['b', { dtype: 'F32', shape: [1], data: Float32Array.of(2) }]])));
    const len = Number(good.readBigUInt64LE(0));
    const header = good.subarray(8, 8 + len).toString('utf8');
    const dupHeader = Buffer.from(header.replace('"b":', '"a":'));
    expect(dupHeader.length).toBe(len);
    const bad = Buffer.concat([good.subarray(0, 8), dupHeader, good.subarray(8 + len)]);
    expect(() => readSafetensors(bad, 'dup.safetensors')).toThrow('dup.safetensors: invalid safetensors file: tensor name "a" appears twice');
    // The same names inside nested objects are not duplicates.
    expect(readSafetensors(good, 'ok').tensors.size).toBe(2);
  });
});

describe('tokenizer.json depth from the loader', () => {
  test('a 200-level Sequence nesting names the file', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'tok-'));
    const n = 200;
    const norm = '{"type":"Sequence","normalizers":['.repeat(n) + '{"type":"Lowercase"}' + ']}'.repeat(n);
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), `{"model":{"type":"Unigram","vocab":[["<unk>",0]],"unk_id":0},"normalizer":${norm}}`);
    expect(() => loadTokenizerFromDir(dir)).toThrow(`${path.join(dir, 'tokenizer.json')}: JSON nests deeper than 64 levels`);
  });
});
