/**
 * Mention search for Pile-NER / NuNER conversion (formats.ts MentionMatcher): the same spans as
 * upstream's window-by-window comparison, at a cost linear in the text for hostile records
 * (one mention repeated thousands of times, a long mention of one repeated word).
 */
import fc from 'fast-check';
import { splitWords } from '../src/processing/word-splitter';
import { MentionMatcher, convertNuNerRecord, convertPileNerRecord } from '../src/training/data/formats';

/** Upstream's semantics, written the slow obvious way: every window, compared lower-cased. */
function bruteForce(tokens: readonly string[], mention: string): [number, number][] {
  const m = splitWords(mention).map((w) => w.text.toLowerCase());
  const low = tokens.map((t) => t.toLowerCase());
  const out: [number, number][] = [];
  if (m.length === 0) return out;
  for (let i = 0; i + m.length <= low.length; i++) {
    if (m.every((w, j) => low[i + j] === w)) out.push([i, i + m.length - 1]);
  }
  return out;
}

/** Pile-NER conversion spans the slow way: per answer in order, per mention, matches left to right, first copy kept. */
function referenceSpans(tokens: string[], answers: { type: string; mentions: string[] }[]) {
  const seen = new Set<string>();
  const spans: { start: number; end: number; label: string }[] = [];
  for (const { type, mentions } of answers) {
    for (const mention of mentions) {
      for (const [s, e] of bruteForce(tokens, mention)) {
        const k = JSON.stringify([s, e, type]);
        if (!seen.has(k)) {
          seen.add(k);
          spans.push({ start: s, end: e, label: type });
        }
      }
    }
  }
  return spans;
}

function pileRecord(text: string, answers: { type: string; mentions: string[] }[]) {
  const conversations = [{ from: 'human', value: `Text: ${text}` }, { from: 'gpt', value: "I've read this text." }];
  for (const a of answers) {
    conversations.push({ from: 'human', value: `What describes ${a.type} in the text?` }, { from: 'gpt', value: JSON.stringify(a.mentions) });
  }
  return { conversations };
}

const word = fc.constantFrom('a', 'A', 'b', 'B', 'ab', 'Ab', 'c', '-', 'a-b');

describe('mention search', () => {
  test('matches every window equal ignoring case, as upstream (property, small alphabets)', () => {
    fc.assert(
      fc.property(fc.array(word, { maxLength: 40 }), fc.array(word, { maxLength: 6 }), (tokensRaw, mentionWords) => {
        const tokens = splitWords(tokensRaw.join(' ')).map((w) => w.text);
        const mention = mentionWords.join(' ');
        const matcher = new MentionMatcher(tokens);
        expect(matcher.find(mention)).toEqual(bruteForce(tokens, mention));
        // cached: the same answer again
        expect(matcher.find(mention.toUpperCase())).toEqual(bruteForce(tokens, mention));
      }),
      { numRuns: 500 },
    );
  });

  test('the long-mention path (KMP) gives the same overlapping matches', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b'), { minLength: 1, maxLength: 60 }), fc.array(fc.constantFrom('a', 'b'), { minLength: 1, maxLength: 8 }), (t, m) => {
        // mostly 'a' so the first word is common and the KMP branch is taken
        const tokens = t.map((x, i) => (i % 7 === 0 ? x : 'a'));
        const mention = m.map((x, i) => (i === 0 ? 'a' : x)).join(' ');
        expect(new MentionMatcher(tokens).find(mention)).toEqual(bruteForce(tokens, mention));
      }),
      { numRuns: 300 },
    );
  });

  test('Pile-NER and NuNER conversion give the same spans as the window-by-window semantics (property)', () => {
    fc.assert(
      fc.property(
        fc.array(word, { minLength: 1, maxLength: 30 }),
        fc.array(fc.record({ type: fc.constantFrom('x', 'y', 'z'), mentions: fc.array(fc.array(word, { minLength: 1, maxLength: 3 }).map((w) => w.join(' ')), { minLength: 1, maxLength: 5 }) }), { maxLength: 4 }),
        (tokensRaw, answers) => {
          const text = tokensRaw.join(' ');
          const tokens = splitWords(text).map((w) => w.text);
          expect(convertPileNerRecord(pileRecord(text, answers)).spans).toEqual(referenceSpans(tokens, answers));
          const items = answers.flatMap((a) => a.mentions.map((m) => `${m} <> ${a.type}`));
          const perItem = items.map((it) => ({ type: it.split(' <> ')[1], mentions: [it.split(' <> ')[0]] }));
          expect(convertNuNerRecord({ input: text, output: items }).spans).toEqual(referenceSpans(tokens, perItem));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a 400 KB record (100k words, one mention 2,000 times) costs one pass, not 2,000', () => {
    const words: string[] = [];
    for (let i = 0; i < 100_000; i++) words.push(i % 10 === 0 ? 'Acme' : `w${i % 97}`);
    const text = words.join(' ');
    expect(text.length).toBeGreaterThan(400_000);
    const rec = pileRecord(text, [{ type: 'organization', mentions: Array(2000).fill('Acme') }]);
    const ex = convertPileNerRecord(rec);
    expect(ex.spans.length).toBe(10_000);
    expect(ex.spans.every((s, k) => s.start === 10 * k && s.end === 10 * k)).toBe(true);
    // cost measure: one search for the distinct mention
    const matcher = new MentionMatcher(ex.tokens);
    for (let r = 0; r < 2000; r++) matcher.find(r % 2 ? 'ACME' : 'Acme');
    expect(matcher.comparisons).toBe(0); // one-word mention: positions come from the index
    for (let r = 0; r < 2000; r++) matcher.find('Acme w1');
    // one pass over Acme's 10,000 positions, not 2,000 of them
    expect(matcher.comparisons).toBeLessThanOrEqual(10_000);
  });

  test('a 1,000-word mention of one repeated word over 100k copies of it: linear (KMP), not 10^8 comparisons', () => {
    const n = 100_000;
    const m = 1000;
    const tokens = Array(n).fill('a');
    const matcher = new MentionMatcher(tokens);
    const found = matcher.find(Array(m).fill('A').join(' '));
    expect(found.length).toBe(n - m + 1);
    expect(found[0]).toEqual([0, m - 1]);
    expect(found[found.length - 1]).toEqual([n - m, n - 1]);
    expect(matcher.comparisons).toBeLessThanOrEqual(4 * (n + m));
  });
});
