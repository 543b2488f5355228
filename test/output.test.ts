/**
 * Output formats: jsonl, json, conll (BIO), spacy (Doc JSON) and html (self-contained page).
 */
import type { Entity } from '../src/decoding';
import { splitWords } from '../src/processing/word-splitter';
import { OUTPUT_FORMATS, ResultRecord, bioTags, formatResults, isOutputFormat, selectNonOverlapping, toSpacyDoc } from '../src/output/formats';
import { LABEL_PALETTE, escapeHtml, labelColor, labelOrder, renderHtml } from '../src/output/html';

/** An entity over `piece` (its first occurrence) in `text`. */
function ent(text: string, piece: string, label: string, score: number, from = 0): Entity {
  const start = text.indexOf(piece, from);
  if (start < 0) throw new Error(`'${piece}' not in '${text}'`);
  return { start, end: start + piece.length, text: piece, label, score };
}

const T1 = 'Alice Martin visited Paris on 3 May 2021.';
const T2 = 'The football club Real Madrid signed Bob.';
const RESULTS: ResultRecord[] = [
  { text: T1, entities: [ent(T1, 'Alice Martin', 'person', 0.98), ent(T1, 'Paris', 'city', 0.91), ent(T1, '3 May 2021', 'date', 0.87)] },
  { text: T2, entities: [ent(T2, 'Real Madrid', 'football club', 0.8), ent(T2, 'Bob', 'person', 0.7)] },
];

describe('formatResults: jsonl and json', () => {
  test('jsonl: one {"text","entities"} line per text, newline-terminated', () => {
    const out = formatResults(RESULTS, 'jsonl');
    const lines = out.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    expect(lines.slice(0, 2).map((l) => JSON.parse(l))).toEqual(RESULTS);
    expect(Object.keys(JSON.parse(lines[0]))).toEqual(['text', 'entities']);
    expect(formatResults([], 'jsonl')).toBe('');
  });

  test('json: a single array of the same records', () => {
    expect(JSON.parse(formatResults(RESULTS, 'json'))).toEqual(RESULTS);
    expect(JSON.parse(formatResults([], 'json'))).toEqual([]);
  });

  test('format names', () => {
    expect([...OUTPUT_FORMATS]).toEqual(['jsonl', 'json', 'conll', 'spacy', 'html']);
    expect(isOutputFormat('conll')).toBe(true);
    expect(isOutputFormat('xml')).toBe(false);
    expect(() => formatResults(RESULTS, 'xml' as never)).toThrow(/unknown output format 'xml'.*jsonl, json, conll, spacy, html/);
  });
});

describe('formatResults: validation names the bad record', () => {
  test.each([
    [{ text: 'abc', entities: [{ start: 2, end: 9, text: 'c', label: 'x', score: 0.5 }] }, /results\[0\]\.entities\[0\]: start\/end \(2, 9\)/],
    [{ text: 'abc', entities: [{ start: 1, end: 1, text: '', label: 'x', score: 0.5 }] }, /results\[0\]\.entities\[0\]/],
    [{ text: 'abc', entities: [{ start: 0, end: 1, text: 'a', label: '', score: 0.5 }] }, /results\[0\]\.entities\[0\]\.label/],
    [{ text: 'abc', entities: [{ start: 0, end: 1, text: 'a', label: 'x', score: NaN }] }, /results\[0\]\.entities\[0\]\.score/],
    [{ text: 42, entities: [] }, /results\[0\]\.text must be a string/],
    [{ text: 'abc' }, /results\[0\]\.entities must be an array/],
  ])('%j', (record, message) => {
    expect(() => formatResults([record as unknown as ResultRecord], 'jsonl')).toThrow(message);
  });

  test('words must match the results', () => {
    expect(() => formatResults(RESULTS, 'conll', { words: [splitWords(T1)] })).toThrow(/one word list per result \(2\), got 1/);
  });
});

describe('conll', () => {
  test('BIO tags per word, a blank line after each text', () => {
    const out = formatResults(RESULTS, 'conll');
    const blocks = out.split('\n\n');
    expect(blocks).toHaveLength(3);
    expect(blocks[2]).toBe('');
    expect(blocks[0].split('\n')).toEqual([
      'Alice\tB-person',
      'Martin\tI-person',
      'visited\tO',
      'Paris\tB-city',
      'on\tO',
      '3\tB-date',
      'May\tI-date',
      '2021\tI-date',
      '.\tO',
    ]);
    // Labels with spaces stay intact (columns are tab-separated).
    expect(blocks[1].split('\n').slice(3, 5)).toEqual(['Real\tB-football club', 'Madrid\tI-football club']);
  });

  test('the words given are used (e.g. those predictEntities saw)', () => {
    const words = RESULTS.map((r) => splitWords(r.text));
    expect(formatResults(RESULTS, 'conll', { words })).toBe(formatResults(RESULTS, 'conll'));
  });

  test('nested output: the more confident of two nested entities wins, the other is dropped', () => {
    const text = 'University of California Berkeley';
    const outer = ent(text, text, 'organization', 0.6);
    const inner = ent(text, 'California', 'location', 0.9);
    expect(bioTags(splitWords(text), [outer, inner])).toEqual(['O', 'O', 'B-location', 'O']);
    expect(bioTags(splitWords(text), [{ ...outer, score: 0.95 }, inner])).toEqual(['B-organization', 'I-organization', 'I-organization', 'I-organization']);
  });

  test('multi-label output: the best-scoring label of a span is written', () => {
    const text = 'Paris is nice';
    const tags = bioTags(splitWords(text), [ent(text, 'Paris', 'city', 0.7), ent(text, 'Paris', 'person', 0.4)]);
    expect(tags).toEqual(['B-city', 'O', 'O']);
  });

  test('tabs and newlines in labels cannot break the columns; empty texts give empty blocks', () => {
    const text = 'Bob';
    const out = formatResults([{ text, entities: [ent(text, 'Bob', 'a\tb\nc', 0.9)] }, { text: '', entities: [] }, { text: 'x', entities: [] }], 'conll');
    expect(out).toBe('Bob\tB-a b c\n\n\nx\tO\n\n');
  });
});

describe('selectNonOverlapping', () => {
  test('greedy by score, ties by length then position, returned in text order', () => {
    const text = 'a b c d e';
    const ab = ent(text, 'a b', 'x', 0.5);
    const bc = ent(text, 'b c', 'y', 0.9);
    const d = ent(text, 'd', 'z', 0.5);
    const de = ent(text, 'd e', 'w', 0.5);
    expect(selectNonOverlapping([ab, bc, d, de])).toEqual([bc, de]);
    expect(selectNonOverlapping([])).toEqual([]);
  });
});

describe('spacy', () => {
  test('Doc.to_json layout: text, ents (non-overlapping), spans.sc (all), tokens', () => {
    const text = 'University of California Berkeley';
    const outer = ent(text, text, 'organization', 0.6);
    const inner = ent(text, 'California', 'location', 0.9);
    const doc = toSpacyDoc({ text, entities: [outer, inner] }, splitWords(text));
    expect(doc).toEqual({
      text,
      ents: [{ start: 14, end: 24, label: 'location' }],
      spans: {
        sc: [
          { start: 0, end: 33, label: 'organization', kb_id: '' },
          { start: 14, end: 24, label: 'location', kb_id: '' },
        ],
      },
      tokens: [
        { id: 0, start: 0, end: 10 },
        { id: 1, start: 11, end: 13 },
        { id: 2, start: 14, end: 24 },
        { id: 3, start: 25, end: 33 },
      ],
    });
  });

  test('offsets are code points, as in Python (an emoji is one character)', () => {
    const text = '😀 Alice met 😀😀 Bob';
    const alice = ent(text, 'Alice', 'person', 0.9);
    const bob = ent(text, 'Bob', 'person', 0.8);
    expect(alice.start).toBe(3); // UTF-16
    const [line] = formatResults([{ text, entities: [alice, bob] }], 'spacy').trim().split('\n');
    const doc = JSON.parse(line);
    expect(doc.ents).toEqual([
      { start: 2, end: 7, label: 'person' },
      { start: 15, end: 18, label: 'person' },
    ]);
    const cps = [...text];
    expect(cps.slice(doc.ents[1].start, doc.ents[1].end).join('')).toBe('Bob');
    expect(doc.tokens.map((t: { start: number; end: number }) => cps.slice(t.start, t.end).join(''))).toEqual(['😀', 'Alice', 'met', '😀', '😀', 'Bob']);
  });

  test('one JSON document per line', () => {
    const lines = formatResults(RESULTS, 'spacy').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[1]).ents.map((e: { label: string }) => e.label)).toEqual(['football club', 'person']);
  });
});

/** Text content of rendered HTML: tags and label chips removed, entities unescaped. */
function visibleText(html: string): string {
  return html
    .replace(/<span class="tag">[^<]*<\/span>/g, '')
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

function paragraphs(html: string): string[] {
  return [...html.matchAll(/<p class="text">([\s\S]*?)<\/p>/g)].map((m) => m[1]);
}

describe('html', () => {
  test('a self-contained page: inline CSS, no scripts, no external resources, CSP', () => {
    const html = formatResults(RESULTS, 'html', { title: 'My results' });
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('<title>My results</title>');
    expect(html).toContain("Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"");
    expect(html).not.toMatch(/<script|<link|<img|src=|href=|url\(|@import/i);
    // One colour rule per label, legend with counts.
    expect(html).toContain(`.l0{background:${LABEL_PALETTE[0]}}`);
    expect(html).toMatch(/<li class="l0">person<span class="n">2<\/span><\/li>/);
    expect(html).toMatch(/<li class="l2">date<span class="n">1<\/span><\/li>/);
    expect(paragraphs(html).map(visibleText)).toEqual([T1, T2]);
  });

  test('text and labels are escaped (a <script> cannot get through)', () => {
    const text = 'Hi <script>alert("x")</script> & <b>bold</b> \'q\'';
    const label = '<img src=x onerror=alert(1)>';
    const e = ent(text, '<script>alert("x")</script>', label, 0.9);
    const html = renderHtml([{ text, entities: [e] }], { title: '</title><script>t()</script>' });
    expect(html).not.toMatch(/<script|<img|<b>/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('<title>&lt;/title&gt;&lt;script&gt;t()&lt;/script&gt;</title>');
    expect(visibleText(paragraphs(html)[0])).toBe(text);
    expect(escapeHtml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&#39;');
  });

  test('nested entities render as nested marks; same-span labels nest too', () => {
    const text = 'University of California Berkeley';
    const entities = [ent(text, text, 'organization', 0.6), ent(text, 'California', 'location', 0.9), ent(text, 'California', 'state', 0.5)];
    const [p] = paragraphs(renderHtml([{ text, entities }]));
    expect(p).toBe(
      '<mark class="e l0" title="organization (0.600)">University of ' +
        '<mark class="e l1" title="location (0.900)"><mark class="e l2" title="state (0.500)">California<span class="tag">state</span></mark><span class="tag">location</span></mark>' +
        ' Berkeley<span class="tag">organization</span></mark>',
    );
  });

  test('crossing entities are split where they cross; only the last piece has the label', () => {
    const text = 'a b c d';
    const ab = ent(text, 'a b c', 'x', 0.9);
    const bd = ent(text, 'c d', 'y', 0.8);
    const [p] = paragraphs(renderHtml([{ text, entities: [ab, bd] }]));
    expect(p).toBe(
      '<mark class="e l0" title="x (0.900)">a b <mark class="e l1 cont" title="y (0.800)">c</mark><span class="tag">x</span></mark>' +
        '<mark class="e l1" title="y (0.800)"> d<span class="tag">y</span></mark>',
    );
    expect(visibleText(p)).toBe(text);
  });

  test('texts without entities and empty texts', () => {
    const html = renderHtml([{ text: 'nothing here', entities: [] }, { text: '', entities: [] }]);
    expect(paragraphs(html)).toEqual(['nothing here', '<span class="none">(empty)</span>']);
    expect(html).toContain('<li class="none">no entities</li>');
    expect(html).toContain('<small>0 entities</small>');
  });

  test('label colours: given order first, distinct, never white', () => {
    expect(labelOrder(RESULTS, ['date', 'unused'])).toEqual(['date', 'unused', 'person', 'city', 'football club']);
    const colours = Array.from({ length: 40 }, (_, i) => labelColor(i));
    expect(new Set(colours).size).toBe(40);
    for (const c of colours) {
      expect(c).toMatch(/^#[0-9a-f]{6}$/);
      expect(c).not.toBe('#ffffff');
    }
    const html = renderHtml(RESULTS, { labels: ['date'] });
    expect(html).toContain(`.l0{background:${labelColor(0)}}`);
    expect(html).toMatch(/<mark class="e l0" title="date/);
  });
});
