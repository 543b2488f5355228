import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import { isBlank, splitWords, Word } from '../src/processing/word-splitter';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'reference');

interface FixtureCase {
  name: string;
  texts: string[];
  valid_to_orig_idx: number[];
  words: [string, number, number][][];
}

/** Map Python code-point offsets of `text` to UTF-16 offsets (index = code-point offset). */
function codePointToUtf16(text: string): number[] {
  const map = [0];
  let u = 0;
  for (const ch of text) {
    u += ch.length;
    map.push(u);
  }
  return map;
}

const triples = (words: Word[]) => words.map((w) => [w.text, w.start, w.end]);

/** Python str.isspace() characters, listed independently of the implementation. */
const PY_SPACES = new Set(
  [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
    0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
    0x2028, 0x2029, 0x202f, 0x205f, 0x3000].map((cp) => String.fromCodePoint(cp)),
);

describe('splitWords matches the reference fixtures', () => {
  const folders = fs.readdirSync(FIXTURES).filter((f) => fs.existsSync(path.join(FIXTURES, f, 'expected_inference.json')));

  it('finds fixture folders', () => {
    expect(folders.length).toBeGreaterThanOrEqual(2);
  });

  for (const folder of folders) {
    const { cases } = JSON.parse(fs.readFileSync(path.join(FIXTURES, folder, 'expected_inference.json'), 'utf8')) as {
      cases: FixtureCase[];
    };
    describe(folder, () => {
      cases.forEach((c, ci) => {
        it(`case ${ci} (${c.name}): words of every kept text, dropped texts are blank`, () => {
          expect(c.words.length).toBe(c.valid_to_orig_idx.length);
          c.texts.forEach((text, orig) => {
            const valid = c.valid_to_orig_idx.indexOf(orig);
            if (valid < 0) {
              expect(isBlank(text)).toBe(true);
              expect(splitWords(text)).toEqual([]);
              return;
            }
            expect(isBlank(text)).toBe(false);
            const map = codePointToUtf16(text);
            const expected = c.words[valid].map(([w, s, e]) => [w, map[s], map[e]]);
            expect(triples(splitWords(text))).toEqual(expected);
          });
        });
      });
    });
  }
});

describe('splitWords follows Python re semantics', () => {
  // Expected values below were produced with CPython 3.11 `re.finditer(r'\w+(?:[-_]\w+)*|\S', s)`
  // and converted to UTF-16 offsets.
  const table: [string, [string, number, number][]][] = [
    ['', []],
    ['   \n\t', []],
    // Combining marks are not \w in Python: decomposed accents split words.
    ['Chloe\u0301 Mu\u0308ller', [['Chloe', 0, 5], ['\u0301', 5, 6], ['Mu', 7, 9], ['\u0308', 9, 10], ['ller', 10, 14]]],
    ['Jean-Luc a--b a_-b -x- __init__ x_', [
      ['Jean-Luc', 0, 8], ['a', 9, 10], ['-', 10, 11], ['-', 11, 12], ['b', 12, 13], ['a_-b', 14, 18],
      ['-', 19, 20], ['x', 20, 21], ['-', 21, 22], ['__init__', 23, 31], ['x_', 32, 34]]],
    // U+001C..U+001F, U+0085, U+00A0, U+3000 are Python whitespace; U+FEFF and U+200B are not.
    ['\x1c\x1d\x1e\x1fa\x85b\ufeffc\u200bd\u00a0e\u3000f', [
      ['a', 4, 5], ['b', 6, 7], ['\ufeff', 7, 8], ['c', 8, 9], ['\u200b', 9, 10], ['d', 10, 11], ['e', 12, 13], ['f', 14, 15]]],
    // Astral characters are one code point; No/Nl/Nd of any script are word characters.
    ['👍🏽 👨\u200d👩\u200d👧 𝔘𝔫𝔦 ٣٤-Ⅻ ½² x²', [
      ['👍', 0, 2], ['🏽', 2, 4], ['👨', 5, 7], ['\u200d', 7, 8], ['👩', 8, 10], ['\u200d', 10, 11], ['👧', 11, 13],
      ['𝔘𝔫𝔦', 14, 20], ['٣٤-Ⅻ', 21, 25], ['½²', 26, 28], ['x²', 29, 31]]],
    ['שלום, עולם! مرحبا', [['שלום', 0, 4], [',', 4, 5], ['עולם', 6, 10], ['!', 10, 11], ['مرحبا', 12, 17]]],
    ['a\r\nb\u2028c\u2029d\x0b\x0ce', [['a', 0, 1], ['b', 3, 4], ['c', 5, 6], ['d', 7, 8], ['e', 10, 11]]],
    ['\x00\x07\x7f', [['\x00', 0, 1], ['\x07', 1, 2], ['\x7f', 2, 3]]],
    ['ǅ ʰa 中文 ๑๒', [['ǅ', 0, 1], ['ʰa', 2, 4], ['中文', 5, 7], ['๑๒', 8, 10]]],
  ];
  it.each(table)('%j', (text, expected) => {
    expect(triples(splitWords(text))).toEqual(expected);
    expect(isBlank(text)).toBe(expected.length === 0);
  });

  it('treats a lone surrogate as a one-character word', () => {
    expect(triples(splitWords('a\ud800b'))).toEqual([['a', 0, 1], ['\ud800', 1, 2], ['b', 2, 3]]);
  });

  it('is re-entrant (no regex state shared between calls)', () => {
    const first = splitWords('one two three');
    expect(splitWords('one two three')).toEqual(first);
    expect(splitWords('x')).toEqual([{ text: 'x', start: 0, end: 1 }]);
  });

  it('rejects non-strings', () => {
    expect(() => splitWords(undefined as unknown as string)).toThrow(/text must be a string/);
  });
});

describe('splitWords properties', () => {
  const pieces = [
    ' ', '\t', '\n', '\r\n', '\r', '\u2028', '\u0085', '\u00a0', '\u3000', '\x1c', '\ufeff', '\u200b', '\u200d',
    '-', '_', '--', '.', ',', '!', '"', '$', '\x00', '\x07', '\x7f', 'a', 'Z', 'é', 'e\u0301', '\u0301', '\u0903',
    '٣', 'Ⅻ', '½', 'ʰ', '中', '😀', '👍🏽', '🇺🇸', '𝔘', '\u05d0', '\u0627', '\u200f', '\u202e', '1', '\ud800', '\udfff',
  ];
  const mixed = fc.oneof(
    fc.array(fc.constantFrom(...pieces), { maxLength: 40 }).map((a) => a.join('')),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.string({ maxLength: 40 }),
  );

  it('words are exact, ordered, disjoint slices and cover every non-whitespace character', () => {
    fc.assert(
      fc.property(mixed, (text) => {
        const words = splitWords(text);
        let prevEnd = 0;
        for (const w of words) {
          expect(w.start).toBeGreaterThanOrEqual(prevEnd);
          expect(w.end).toBeGreaterThan(w.start);
          expect(text.slice(w.start, w.end)).toBe(w.text);
          // Only Python whitespace may sit between words.
          for (const ch of text.slice(prevEnd, w.start)) expect(PY_SPACES.has(ch)).toBe(true);
          // A word never starts or ends inside a surrogate pair.
          expect(/^[\udc00-\udfff]/.test(w.text) && /[\ud800-\udbff]$/.test(text.slice(0, w.start))).toBe(false);
          // Multi-character words never start or end with a joiner.
          if ([...w.text].length > 1) expect(/^[-]|-$/.test(w.text)).toBe(false);
          prevEnd = w.end;
        }
        for (const ch of text.slice(prevEnd)) expect(PY_SPACES.has(ch)).toBe(true);
        expect(isBlank(text)).toBe(words.length === 0);
      }),
      { numRuns: 500 },
    );
  });
});
