/**
 * The 'intl' word splitter (Intl.Segmenter): dictionary words for scripts without spaces, exact
 * UTF-16 offsets, the regex splitter untouched as the default, and raw-text training data in
 * Chinese / Japanese read with it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import fc from 'fast-check';
import { Word, splitWords, splitWordsIntl, splitWordsWith } from '../src/processing/word-splitter';
import { readTrainingFile } from '../src/training/data';
import { GLiNER } from '../src/gliner';
import { initBackend } from '../src/backend';

const triples = (words: Word[]) => words.map((w) => [w.text, w.start, w.end]);
/** Words with offsets computed from the expected words themselves (each follows the previous one, spaces skipped). */
function expectedWords(text: string, words: string[]): [string, number, number][] {
  let at = 0;
  return words.map((w) => {
    const start = text.indexOf(w, at);
    if (start < 0) throw new Error(`'${w}' not found after ${at}`);
    at = start + w.length;
    return [w, start, at];
  });
}

describe('dictionary words (hand-checked)', () => {
  // Expectations written by hand from the languages' word boundaries, not from our output.
  const cases: [string, string, string[]][] = [
    ['Chinese', '我们在北京学习中文。', ['我们', '在', '北京', '学习', '中文', '。']],
    ['Chinese', '阿里巴巴的总部在杭州。', ['阿里巴巴', '的', '总部', '在', '杭州', '。']],
    ['Chinese with Latin and digits', '我们 2024 年在 Google 工作。', ['我们', '2024', '年', '在', 'Google', '工作', '。']],
    ['Japanese', '東京は日本の首都です。', ['東京', 'は', '日本', 'の', '首都', 'です', '。']],
    ['Japanese', 'ソニーは東京に本社がある。', ['ソニー', 'は', '東京', 'に', '本社', 'が', 'ある', '。']],
    ['Thai', 'ผมชอบกินข้าวผัด', ['ผม', 'ชอบ', 'กิน', 'ข้าว', 'ผัด']],
    ['Khmer', 'ខ្ញុំស្រឡាញ់ប្រទេសកម្ពុជា', ['ខ្ញុំ', 'ស្រឡាញ់', 'ប្រទេស', 'កម្ពុជា']],
  ];
  it.each(cases)('%s: %s', (_lang, text, words) => {
    expect(triples(splitWordsIntl(text))).toEqual(expectedWords(text, words));
  });

  it('the regex splitter (the default) keeps a Chinese sentence as one word, as upstream does', () => {
    expect(triples(splitWords('我们在北京学习中文。'))).toEqual([['我们在北京学习中文', 0, 9], ['。', 9, 10]]);
    expect(splitWordsWith('我们在北京学习中文。')).toEqual(splitWords('我们在北京学习中文。'));
  });

  it('offsets are UTF-16 and exact around astral characters (emoji, CJK extension B)', () => {
    const text = '𠮷野家で😀ラーメンを食べた';
    for (const w of splitWordsIntl(text)) expect(text.slice(w.start, w.end)).toBe(w.text);
    const emoji = splitWordsIntl(text).find((w) => w.text === '😀')!;
    expect([emoji.start, emoji.end]).toEqual([text.indexOf('😀'), text.indexOf('😀') + 2]);
  });
});

test('property: words are ordered, disjoint, exact slices, and cover every non-space character', () => {
  const alphabet = fc.constantFrom(...'我们在北京学习東京はソニーabc 12,.\u3000\n😀ผมชอบ-'.split(''), '😀', '𠮷');
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 40 }).map((a) => a.join('')), (text) => {
      const words = splitWordsIntl(text);
      let prev = 0;
      const covered = new Array(text.length).fill(false);
      for (const w of words) {
        expect(w.start).toBeGreaterThanOrEqual(prev);
        expect(text.slice(w.start, w.end)).toBe(w.text);
        expect(w.text.trim()).not.toBe('');
        for (let i = w.start; i < w.end; i++) covered[i] = true;
        prev = w.end;
      }
      for (let i = 0; i < text.length; i++) if (!/\s/.test(text[i])) expect(covered[i]).toBe(true);
    }),
    { numRuns: 300 },
  );
});

describe('training data in Chinese and Japanese reads with the intl splitter', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-intl-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('NuNER records: mentions found as whole words (none with the regex splitter)', async () => {
    const file = path.join(tmp, 'nuner.jsonl');
    fs.writeFileSync(
      file,
      [
        { input: '阿里巴巴的总部在杭州。', output: ['阿里巴巴 <> organization', '杭州 <> city'] },
        { input: 'ソニーは東京に本社がある。', output: ['ソニー <> organization', '東京 <> city'] },
      ].map((r) => JSON.stringify(r)).join('\n') + '\n',
    );
    const intl = await readTrainingFile(file, { wordSplitter: 'intl' });
    expect(intl.examples.map((e) => e.tokens)).toEqual([
      ['阿里巴巴', '的', '总部', '在', '杭州', '。'],
      ['ソニー', 'は', '東京', 'に', '本社', 'が', 'ある', '。'],
    ]);
    expect(intl.examples.map((e) => e.spans)).toEqual([
      [{ start: 0, end: 0, label: 'organization' }, { start: 4, end: 4, label: 'city' }],
      [{ start: 0, end: 0, label: 'organization' }, { start: 2, end: 2, label: 'city' }],
    ]);
    const regex = await readTrainingFile(file);
    expect(regex.examples.map((e) => e.spans.length)).toEqual([0, 0]);
  });
});

test('predict with wordSplitter "intl": entities start and end on dictionary words, offsets exact', async () => {
  await initBackend('wasm');
  const model = await GLiNER.fromPretrained(path.join(__dirname, '..', 'fixtures', 'models', 'demo'), { backend: 'wasm' });
  try {
    const text = '阿里巴巴的总部在杭州。李明去了上海。';
    const bounds = new Set(splitWordsIntl(text).flatMap((w) => [w.start, w.end]));
    // threshold 0: every span is a candidate, so entities exist whatever this model knows
    const entities = await model.predictEntities(text, ['organization', 'city'], { wordSplitter: 'intl', threshold: 0 });
    expect(entities.length).toBeGreaterThan(0);
    for (const e of entities) {
      expect(text.slice(e.start, e.end)).toBe(e.text);
      expect(bounds.has(e.start) && bounds.has(e.end)).toBe(true);
    }
    // with the regex splitter the first sentence is one word, so no entity can be smaller
    const regex = await model.predictEntities(text, ['organization', 'city'], { threshold: 0 });
    expect(regex.every((e) => e.text.length >= '阿里巴巴的总部在杭州'.length || e.text === '。')).toBe(true);
    await expect(model.predictEntities(text, ['city'], { wordSplitter: 'icu' as never })).rejects.toThrow(/wordSplitter must be 'regex' or 'intl'/);
  } finally {
    model.dispose();
  }
}, 120_000);
