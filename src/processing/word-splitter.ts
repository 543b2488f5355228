/**
 * Word splitting as done by GLiNER's `WhitespaceTokenSplitter`:
 *
 *     re.finditer(r'\w+(?:[-_]\w+)*|\S', text)
 *
 * i.e. runs of word characters (optionally joined by single '-' or '_' into one word), and
 * every other non-whitespace character as a word of its own.
 *
 * Python's `\w` for str patterns is `str.isalnum() or '_'`. Checked over every code point on
 * CPython 3.11 (Unicode 14.0), that set is exactly the general categories L* (Lu Ll Lt Lm Lo) and
 * N* (Nd Nl No) plus '_'. Combining marks (Mn, Mc, Me) are NOT word characters, so a decomposed
 * "e\u0301" splits into "e" and "\u0301"; we reproduce that on purpose. Python's `\s` is
 * `str.isspace()`, which differs from JS `\s`: it adds U+001C..U+001F and U+0085 and lacks U+FEFF.
 *
 * Offsets are UTF-16 code units (JS string indices, end exclusive), so
 * `text.slice(w.start, w.end) === w.text`. The regex runs in `u` mode, so a surrogate pair
 * (emoji, astral letters) is one character, as in Python; a lone surrogate is a one-char word.
 *
 * Known deviation: Node's regex engine uses its ICU Unicode version (newer than 14.0), so letters
 * and digits assigned after Unicode 14.0 count as word characters here, while CPython 3.11 treats
 * them as unassigned symbols (newer CPython versions agree with us).
 */

export interface Word {
  /** The word as it appears in the text. */
  text: string;
  /** Start offset in UTF-16 code units (inclusive). */
  start: number;
  /** End offset in UTF-16 code units (exclusive). */
  end: number;
}

/** Python `str.isspace()` characters (categories Zs, Zl, Zp plus bidi classes WS/B/S). */
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** Python's Unicode `\w`: letters, all numerics (Nd, Nl, No) and underscore. */
const PY_WORD = '[\\p{L}\\p{N}_]';

/** `\w+(?:[-_]\w+)*|\S` with Python semantics; the pattern cannot backtrack catastrophically. */
const WORD_PATTERN = new RegExp(`${PY_WORD}+(?:[-_]${PY_WORD}+)*|[^${PY_SPACE}]`, 'gu');
const NON_SPACE = new RegExp(`[^${PY_SPACE}]`, 'u');

/** Split `text` into GLiNER words with UTF-16 offsets. */
export function splitWords(text: string): Word[] {
  if (typeof text !== 'string') throw new TypeError(`splitWords: text must be a string, got ${typeof text}`);
  const words: Word[] = [];
  // A fresh regex per call keeps this re-entrant (global regexes carry lastIndex state).
  const re = new RegExp(WORD_PATTERN);
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    words.push({ text: m[0], start: m.index, end: m.index + m[0].length });
  }
  return words;
}

/**
 * True when Python's `text.strip()` would be empty (GLiNER drops such texts before batching and
 * returns `[]` for them). Equivalent to `splitWords(text).length === 0`.
 */
export function isBlank(text: string): boolean {
  return !NON_SPACE.test(text);
}

/**
 * Word splitters: 'regex' is upstream's (above, the default, so parity holds); 'intl' uses the
 * ICU word break rules and dictionaries behind `Intl.Segmenter` (full ICU ships with Node 13+),
 * which find words in scripts written without spaces: Chinese, Japanese, Thai, Khmer, Lao,
 * Burmese. The regex splitter makes a whole Chinese sentence one "word".
 */
export const WORD_SPLITTERS = ['regex', 'intl'] as const;
export type WordSplitterName = (typeof WORD_SPLITTERS)[number];

export function isWordSplitterName(v: unknown): v is WordSplitterName {
  return typeof v === 'string' && (WORD_SPLITTERS as readonly string[]).includes(v);
}

/** Split with the named splitter ('regex' when absent). `locale` only matters for 'intl'. */
export function splitWordsWith(text: string, splitter: WordSplitterName = 'regex', locale?: string): Word[] {
  if (splitter === 'regex') return splitWords(text);
  if (splitter === 'intl') return splitWordsIntl(text, locale);
  throw new RangeError(`word splitter must be one of ${WORD_SPLITTERS.join(', ')}, got ${JSON.stringify(splitter)}`);
}

const segmenters = new Map<string, Intl.Segmenter>();

/**
 * Words by `Intl.Segmenter` (granularity 'word'): each word-like segment is a word, and every
 * non-space character of the other segments (punctuation, symbols) is a word of its own, as the
 * regex splitter treats them; whitespace is dropped with Python's `isspace` rules. Offsets are
 * UTF-16, exact (`text.slice(start, end) === text`).
 */
export function splitWordsIntl(text: string, locale?: string): Word[] {
  if (typeof text !== 'string') throw new TypeError(`splitWordsIntl: text must be a string, got ${typeof text}`);
  if (typeof Intl === 'undefined' || typeof Intl.Segmenter !== 'function') {
    throw new Error("word splitter 'intl' needs Intl.Segmenter (Node >= 16 with ICU); use the 'regex' splitter here");
  }
  const key = locale ?? '';
  let seg = segmenters.get(key);
  if (!seg) {
    seg = new Intl.Segmenter(locale, { granularity: 'word' });
    segmenters.set(key, seg);
  }
  const words: Word[] = [];
  const nonSpace = new RegExp(`[^${PY_SPACE}]`, 'gu');
  for (const s of seg.segment(text)) {
    if (s.isWordLike) {
      words.push({ text: s.segment, start: s.index, end: s.index + s.segment.length });
      continue;
    }
    nonSpace.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = nonSpace.exec(s.segment)) !== null) {
      words.push({ text: m[0], start: s.index + m.index, end: s.index + m.index + m[0].length });
    }
  }
  return words;
}
