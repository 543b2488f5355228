/**
 * Serialising prediction results ({text, entities} per input text) for files and pipes.
 *
 *   jsonl   one {"text", "entities"} object per line (the default; UTF-16 offsets, as predicted)
 *   json    one JSON array of those objects
 *   conll   one "word<TAB>BIO-tag" line per word, a blank line after each text
 *   spacy   one spaCy Doc JSON per line (Doc.to_json / Doc.from_json shape, code-point offsets)
 *   html    a self-contained page highlighting the entities (see html.ts)
 *
 * BIO tags and spaCy's `ents` hold one label per word, while nested or multi-label predictions
 * can overlap. `selectNonOverlapping` decides which entities survive there (highest score first;
 * see its comment); nothing is lost in jsonl/json/html, and spaCy keeps every entity in
 * `spans.sc`.
 */
import type { Entity } from '../decoding';
import { Word, splitWords } from '../processing/word-splitter';
import { renderHtml, HtmlOptions } from './html';

export interface ResultRecord {
  text: string;
  entities: readonly Entity[];
}

export const OUTPUT_FORMATS = ['jsonl', 'json', 'conll', 'spacy', 'html'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface FormatOptions extends HtmlOptions {
  /**
   * The words of each text (as predictEntities split them) for CoNLL and spaCy tokens.
   * Default: splitWords(text), which is what the model used.
   */
  words?: readonly (readonly Word[])[];
}

export function isOutputFormat(value: string): value is OutputFormat {
  return (OUTPUT_FORMATS as readonly string[]).includes(value);
}

/** Throws (naming results[i].entities[j] and the field) unless every record is well formed. */
export function validateResults(results: readonly ResultRecord[]): void {
  if (!Array.isArray(results)) throw new TypeError('results must be an array of {text, entities}');
  results.forEach((r, i) => {
    const where = `results[${i}]`;
    if (typeof r !== 'object' || r === null) throw new TypeError(`${where} must be an object with text and entities`);
    if (typeof r.text !== 'string') throw new TypeError(`${where}.text must be a string`);
    if (!Array.isArray(r.entities)) throw new TypeError(`${where}.entities must be an array`);
    (r.entities as readonly Entity[]).forEach((e: Entity, j: number) => {
      const w = `${where}.entities[${j}]`;
      if (typeof e !== 'object' || e === null) throw new TypeError(`${w} must be an object`);
      if (!Number.isInteger(e.start) || !Number.isInteger(e.end) || e.start < 0 || e.end > r.text.length || e.start >= e.end) {
        throw new RangeError(`${w}: start/end (${String(e.start)}, ${String(e.end)}) must be integers with 0 <= start < end <= ${r.text.length}`);
      }
      if (typeof e.label !== 'string' || e.label === '') throw new TypeError(`${w}.label must be a non-empty string`);
      if (typeof e.score !== 'number' || !Number.isFinite(e.score)) throw new TypeError(`${w}.score must be a finite number`);
    });
  });
}

/**
 * A non-overlapping subset, for outputs with one label per word. Greedy: highest score first
 * (ties: the longer entity, then the earlier one); an entity is kept only if it overlaps no kept
 * entity, so of two nested entities the more confident one wins, and of several labels on the
 * same span the best-scoring one. Returned in text order.
 */
export function selectNonOverlapping(entities: readonly Entity[]): Entity[] {
  const order = entities
    .map((e, i) => ({ e, i }))
    .sort((a, b) => b.e.score - a.e.score || b.e.end - b.e.start - (a.e.end - a.e.start) || a.e.start - b.e.start || a.i - b.i);
  const kept: Entity[] = [];
  for (const { e } of order) {
    if (kept.every((k) => e.end <= k.start || e.start >= k.end)) kept.push(e);
  }
  return kept.sort((a, b) => a.start - b.start);
}

/** Labels must not break the tab-separated layout. */
function conllLabel(label: string): string {
  return label.replace(/[\t\r\n]+/g, ' ');
}

function wordsFor(results: readonly ResultRecord[], options: FormatOptions): readonly (readonly Word[])[] {
  if (options.words === undefined) return results.map((r) => splitWords(r.text));
  if (!Array.isArray(options.words) || options.words.length !== results.length) {
    throw new Error(`options.words must have one word list per result (${results.length}), got ${Array.isArray(options.words) ? options.words.length : typeof options.words}`);
  }
  return options.words;
}

/** BIO tags per word: a word is inside an entity when their character ranges overlap. */
export function bioTags(words: readonly Word[], entities: readonly Entity[]): string[] {
  const tags = words.map(() => 'O');
  for (const e of selectNonOverlapping(entities)) {
    let first = true;
    words.forEach((w, k) => {
      if (w.end > e.start && w.start < e.end) {
        tags[k] = `${first ? 'B' : 'I'}-${conllLabel(e.label)}`;
        first = false;
      }
    });
  }
  return tags;
}

function formatConll(results: readonly ResultRecord[], options: FormatOptions): string {
  const words = wordsFor(results, options);
  const blocks = results.map((r, i) => {
    const tags = bioTags(words[i], r.entities);
    return words[i].map((w, k) => `${w.text}\t${tags[k]}\n`).join('');
  });
  // Every text's block ends with a blank line, so an empty text still shows as an empty block.
  return blocks.map((b) => `${b}\n`).join('');
}

/** UTF-16 offset -> Python code-point offset (spaCy counts code points). */
function codePointOffsets(text: string): (utf16: number) => number {
  const map = new Int32Array(text.length + 1);
  let cp = 0;
  for (let i = 0; i < text.length; i++) {
    map[i] = cp;
    const c = text.charCodeAt(i);
    // A high surrogate followed by a low one is a single code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        map[++i] = cp;
      }
    }
    cp++;
  }
  map[text.length] = cp;
  return (u) => map[u];
}

/** One spaCy Doc JSON (`Doc.to_json` layout, readable by `Doc.from_json`). */
export function toSpacyDoc(result: ResultRecord, words: readonly Word[]): Record<string, unknown> {
  const cp = codePointOffsets(result.text);
  const span = (e: Entity) => ({ start: cp(e.start), end: cp(e.end), label: e.label });
  return {
    text: result.text,
    ents: selectNonOverlapping(result.entities).map(span),
    spans: { sc: [...result.entities].sort((a, b) => a.start - b.start || a.end - b.end).map((e) => ({ ...span(e), kb_id: '' })) },
    tokens: words.map((w, id) => ({ id, start: cp(w.start), end: cp(w.end) })),
  };
}

/** Results in the given format. Throws on malformed results or an unknown format. */
export function formatResults(results: readonly ResultRecord[], format: OutputFormat, options: FormatOptions = {}): string {
  validateResults(results);
  const plain = (r: ResultRecord) => ({ text: r.text, entities: r.entities });
  switch (format) {
    case 'jsonl':
      return results.map((r) => JSON.stringify(plain(r)) + '\n').join('');
    case 'json':
      return JSON.stringify(results.map(plain), null, 2) + '\n';
    case 'conll':
      return formatConll(results, options);
    case 'spacy': {
      const words = wordsFor(results, options);
      return results.map((r, i) => JSON.stringify(toSpacyDoc(r, words[i])) + '\n').join('');
    }
    case 'html':
      return renderHtml(results, options);
    default:
      throw new Error(`unknown output format '${String(format)}' (choose one of: ${OUTPUT_FORMATS.join(', ')})`);
  }
}

/**
 * Results written as they come: `begin()`, then `write(records)` for each batch, then `end()`,
 * each returning the text to append. Concatenated, the pieces equal
 * `formatResults(allRecords, format, options)` for every format. jsonl, conll, spacy and json
 * hold nothing between calls; html needs every result for its page and legend, so it holds them
 * until `end()`.
 */
export interface ResultWriter {
  begin(): string;
  write(records: readonly ResultRecord[]): string;
  end(): string;
}

export function createResultWriter(format: OutputFormat, options: FormatOptions = {}): ResultWriter {
  if (!isOutputFormat(format)) throw new Error(`unknown output format '${String(format)}' (choose one of: ${OUTPUT_FORMATS.join(', ')})`);
  if (options.words !== undefined) throw new Error('createResultWriter: options.words is per call; pass words to formatResults instead');
  if (format === 'html') {
    const held: ResultRecord[] = [];
    return {
      begin: () => '',
      write: (records) => {
        validateResults(records);
        held.push(...records);
        return '';
      },
      end: () => formatResults(held, 'html', options),
    };
  }
  if (format === 'json') {
    // JSON.stringify(all, null, 2) piece by piece: "[", items indented by two, "]" ("[]" when empty).
    let count = 0;
    return {
      begin: () => '',
      write: (records) => {
        validateResults(records);
        let s = '';
        for (const r of records) {
          s += (count++ === 0 ? '[\n  ' : ',\n  ') + JSON.stringify({ text: r.text, entities: r.entities }, null, 2).replace(/\n/g, '\n  ');
        }
        return s;
      },
      end: () => (count === 0 ? '[]\n' : '\n]\n'),
    };
  }
  return { begin: () => '', write: (records) => formatResults(records, format, options), end: () => '' };
}
