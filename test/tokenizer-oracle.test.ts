/**
 * Our tokenizer.json runtime (WordPiece, byte-level BPE, Unigram) against Hugging Face's Rust
 * `tokenizers`, the implementation upstream GLiNER runs: every tokenizer.json under the
 * reference folders (discovered from the files), the reference cases' words and labels, and
 * fuzzed strings, with zero mismatches.
 */
import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import { loadTokenizerFromDir } from '../src/io/tokenizer-files';
import { gpt2Split } from '../src/tokenizer/byte-level-bpe';
import { referenceRoots } from './helpers/reference';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { Tokenizer } = require('tokenizers') as { Tokenizer: { fromFile(p: string): RustTokenizer } };
interface RustEncoding {
  getIds(): number[];
}
interface RustTokenizer {
  encode(text: string, pair: null, options: { addSpecialTokens: boolean }): Promise<RustEncoding>;
}

/** fixtures/tokenizers: WordPiece and byte-level BPE files (see its README). */
const TOKENIZER_FIXTURES = path.join(__dirname, '..', 'fixtures', 'tokenizers');

/** Folders (under the reference roots and fixtures/tokenizers, two levels down) holding a tokenizer.json. */
function tokenizerDirs(): string[] {
  const out: string[] = [];
  const visit = (d: string, depth: number) => {
    if (fs.existsSync(path.join(d, 'tokenizer.json'))) out.push(d);
    if (depth === 0) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) visit(path.join(d, e.name), depth - 1);
  };
  for (const r of [...referenceRoots(), TOKENIZER_FIXTURES]) visit(r, 2);
  return out.sort();
}

const POOL = [
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  ...'éüöçñÉÖŞşğıİßæøåÆ',
  'e\u0301', 'a\u0308', '\u00a0', '\u2009', '\u3000', '\t', '\n', ' ', ' ', ' ',
  ...'.,;:!?\'"()[]{}-_/\\@#$%^&*+=<>|~`',
  ...'—–…«»“”‘’¿¡',
  ...'日本語中文한국어ひらがなカタカナ',
  ...'ΣσςΑβγ', 'Привет'[0], 'ж', 'ع', 'ש', 'ि', 'क',
  '😀', '👍🏽', '🇩🇪', '\u200b', '\u200d', '\ufeff', '\u0000', '\ufffd', '\u0007',
  "'s", "'re", "'ll", "'d", "'t", "'ve", "'m",
  '[CLS]', '[SEP]', '[UNK]', '<<ENT>>', '<<SEP>>', '[FLERT]',
];

const dirs = tokenizerDirs();

test('reference folders with a tokenizer.json were found', () => {
  expect(dirs.length).toBeGreaterThan(0);
});

for (const dir of dirs) {
  describe(`tokenizer.json of ${path.relative(process.cwd(), dir)} matches the Rust tokenizers`, () => {
    const ours = loadTokenizerFromDir(dir, { format: 'tokenizer.json' });
    const rust = Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
    const mismatches: { text: string; ours: number[]; rust: number[] }[] = [];
    const check = async (text: string) => {
      const want = (await rust.encode(text, null, { addSpecialTokens: false })).getIds();
      const got = ours.encodeWord(text);
      if (got.length !== want.length || got.some((v, i) => v !== want[i])) mismatches.push({ text, ours: got, rust: want });
    };

    test('words and labels of the reference cases', async () => {
      const samples = new Set<string>();
      for (const root of referenceRoots()) {
        for (const d of fs.readdirSync(root)) {
          const f = path.join(root, d, 'expected_inference.json');
          if (!fs.existsSync(f)) continue;
          for (const c of JSON.parse(fs.readFileSync(f, 'utf8')).cases) {
            for (const ws of c.tokens_as_model_sees) for (const w of ws) samples.add(w);
            for (const l of (c.labels as (string | string[])[]).flat()) samples.add(l);
            for (const t of c.texts) samples.add(t);
          }
        }
      }
      for (const s of samples) await check(s);
      expect(mismatches.slice(0, 5)).toEqual([]);
    });

    test('3000 fuzzed strings (scripts, accents, combining marks, spaces, controls, emoji, added tokens)', async () => {
      const texts = fc.sample(fc.array(fc.constantFrom(...POOL), { maxLength: 16 }).map((a) => a.join('')), { numRuns: 3000, seed: 1234 });
      for (const t of texts) await check(t);
      expect(mismatches.slice(0, 5)).toEqual([]);
    });
  });
}

describe('GPT-2 pre-tokenizer split', () => {
  test('pieces concatenate back to the input and follow the regex alternatives', () => {
    expect(gpt2Split("Hello  world's 2021!!  ")).toEqual(['Hello', ' ', ' world', "'s", ' 2021', '!!', '  ']);
    expect(gpt2Split("don't\tgo")).toEqual(['don', "'t", '\t', 'go']);
    fc.assert(fc.property(fc.array(fc.constantFrom(...POOL)).map((a) => a.join('')), (s) => gpt2Split(s).join('') === s));
  });
});
