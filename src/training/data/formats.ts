/**
 * Training-data record formats and their conversion to one normalized `TrainingExample`.
 *
 * Three schemas are understood (the container, JSON array / JSON Lines / CSV, is handled in
 * reader.ts):
 *
 * 1. `gliner`: GLiNER's own training format,
 *      {"tokenized_text": ["Alice", "visited", "Paris"], "ner": [[0, 0, "person"], [2, 2, "city"]],
 *       "ner_labels"?: [...], "ner_negatives"?: [...]}
 *    with inclusive word indices. `ner_labels` fixes the entity types used for that example;
 *    `ner_negatives` gives its negative types. Upstream's Pile-NER script writes the negatives
 *    under the key `negative`, which upstream's processor never reads (it looks for
 *    `ner_negatives`), so in upstream those negatives are silently unused. We read both keys
 *    (their union, `ner_negatives` first); pass `readNegatives: false` to ignore negatives as
 *    upstream effectively does.
 *
 * 2. `pilener`: raw Universal-NER "Pile-NER-type" records,
 *      {"conversations": [{"from": "human", "value": "Text: <passage>"},
 *                         {"from": "gpt", "value": "I've read this text."},
 *                         {"from": "human", "value": "What describes person in the text?"},
 *                         {"from": "gpt", "value": "[\"Alice\", \"Bob\"]"}, ...], "id": ...}
 *    converted as upstream's data/process_pilener.py does: the passage is split into words with
 *    `\w+(?:[-_]\w+)*|\S`; each question's answer (a Python/JSON list of strings, read like
 *    `ast.literal_eval`) lists mentions of that type; every mention is split the same way and
 *    matched against EVERY window of the passage where the words are equal ignoring case, each
 *    match giving a span labelled with the type exactly as written in the question (upstream does
 *    not lower-case labels; `lowercaseLabels` is an opt-in). Spans are listed per mention in
 *    answer order, matches left to right. A type whose answer is exactly `[]` is a negative.
 *    Differences from upstream, all in malformed corners: upstream pairs types with mentions by
 *    running counts and misaligns them when an answer is unparsable, empty but not written `[]`,
 *    or missing; we pair each answer with the question right before it. An empty mention
 *    matches nowhere (upstream emits degenerate spans with end = start - 1 at every position).
 *    Exact duplicate spans (same words, same label) are kept once. A type that is answered
 *    both with mentions and with `[]` (asked twice) is not made a negative.
 *
 * 3. `nuner`: NuMind's NuNER records (`numind/NuNER`, split "entity", a CSV with the columns
 *    `input` and `output`), e.g.
 *      {"input": "Alice visited Paris", "output": "['Alice <> person', 'Paris <> city']"}
 *    converted as upstream's data/process_nuner.py: `output` is a Python list literal (also
 *    accepted already parsed, as a JSON array of strings) whose items are "mention <> type";
 *    mentions are matched as for Pile-NER; labels are kept as written. Upstream silently drops a
 *    record when anything fails (its try/except covers the whole record): an item that does not
 *    split into exactly two parts on " <> ", an unparsable `output`, and also an EMPTY `output`
 *    (`zip(*[])` cannot be unpacked), so upstream's NuNER data has no entity-free texts; use the
 *    reader's `dropEmpty` for that, and `skipBad` to skip bad records. Items of the "full" split
 *    carry a third part (a type description), which we accept and ignore.
 */
import { WordSplitterName, splitWordsWith } from '../../processing/word-splitter';
import { parseStringList } from './python-literal';
import { findReservedToken, reservedTokenProblem } from '../../processing/label-tokens';

/** A gold entity: words `start..end`, both inclusive (GLiNER's convention). */
export interface TrainingSpan {
  start: number;
  end: number;
  label: string;
}

/** One normalized training example, whatever the source format. */
export interface TrainingExample {
  /** The words of the text. */
  tokens: string[];
  /** Gold spans (inclusive word indices), in the order of the source. */
  spans: TrainingSpan[];
  /** `ner_labels`: when present, exactly these entity types are prompted for this example. */
  labels?: string[];
  /** `ner_negatives` (or `negative`): negative types used instead of in-batch sampling. */
  negatives?: string[];
  /**
   * The entity types the source record asked about, answered or not (a Pile-NER conversation's
   * "What describes X" questions). Evaluation prompts these; training ignores it (upstream's
   * Pile-NER script samples types from the batch).
   */
  askedTypes?: string[];
  /**
   * `label_descriptions`: entity type -> the text prompted for it (e.g. "person" -> "first name
   * and surname of a person"). Spans and metrics keep the type name.
   */
  descriptions?: Record<string, string>;
}

export type DataSchema = 'gliner' | 'pilener' | 'nuner';

export interface ConvertOptions {
  /** Lower-case every label (spans, `ner_labels`, negatives). Default false, as upstream. */
  lowercaseLabels?: boolean;
  /** Read per-example negatives (`ner_negatives`, `negative`, Pile-NER `[]` answers). Default true. */
  readNegatives?: boolean;
  /**
   * Strings no label may contain: the model tokenizer's special and added tokens
   * (`GLiNER.reservedLabelTokens()`). A label holding one is a bad record. Default: none.
   */
  reservedTokens?: readonly string[];
  /**
   * How raw texts (Pile-NER, NuNER) and their mentions are split into words: 'regex' (default,
   * upstream's) or 'intl' (Intl.Segmenter, for Chinese, Japanese, Thai...). GLiNER-format data
   * is already split.
   */
  wordSplitter?: WordSplitterName;
}

/**
 * A problem with one record: `key` is the path of the offending value inside the record
 * (e.g. `ner[2][1]`, `conversations[5].value`), or '' for the record as a whole.
 * The reader adds the file name and position.
 */
export class RecordProblem extends Error {
  constructor(
    readonly key: string,
    readonly problem: string,
    /** Set for problems that real data has routinely and readers skip by default (see reader.ts `strict`). */
    readonly routine?: 'empty-output',
  ) {
    super(key ? `${key}: ${problem}` : problem);
    this.name = 'RecordProblem';
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  return `a ${typeof v === 'object' ? 'object' : typeof v}`;
}

function makeLabel(raw: unknown, key: string, opts: ConvertOptions): string {
  if (typeof raw !== 'string') throw new RecordProblem(key, `label must be a string, got ${typeName(raw)}`);
  if (raw.length === 0) throw new RecordProblem(key, 'label is an empty string');
  const token = opts.reservedTokens ? findReservedToken(raw, opts.reservedTokens) : null;
  if (token !== null) throw new RecordProblem(key, reservedTokenProblem(raw, token));
  return opts.lowercaseLabels ? raw.toLowerCase() : raw;
}

function readLabelList(v: unknown, key: string, opts: ConvertOptions): string[] {
  if (!Array.isArray(v)) throw new RecordProblem(key, `must be an array of strings, got ${typeName(v)}`);
  return dedupe(v.map((x, j) => makeLabel(x, `${key}[${j}]`, opts)));
}

/** Remove repeated strings, keeping the first occurrence (like Python's dict.fromkeys). */
export function dedupe(items: readonly string[]): string[] {
  return [...new Set(items)];
}

/** Which schema a parsed record looks like, or null. */
export function classifyRecord(rec: unknown): DataSchema | null {
  if (!isObject(rec)) return null;
  if ('tokenized_text' in rec) return 'gliner';
  if ('conversations' in rec) return 'pilener';
  if ('input' in rec && 'output' in rec) return 'nuner';
  return null;
}

/** `label_descriptions`: an object of entity type -> non-empty description. */
function readDescriptions(raw: unknown, opts: ConvertOptions): Record<string, string> {
  if (!isObject(raw)) throw new RecordProblem('label_descriptions', `must be an object of "type": "description", got ${typeName(raw)}`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string' || v.trim() === '') throw new RecordProblem(`label_descriptions.${k}`, `must be a non-empty string, got ${typeName(v)}`);
    out[makeLabel(k, `label_descriptions.${k}`, opts)] = v;
  }
  return out;
}

/** Validate and normalize one GLiNER-format record. */
export function normalizeGlinerRecord(rec: unknown, opts: ConvertOptions = {}): TrainingExample {
  if (!isObject(rec)) throw new RecordProblem('', `record must be a JSON object, got ${typeName(rec)}`);
  const rawTokens = rec.tokenized_text;
  if (rawTokens === undefined) throw new RecordProblem('tokenized_text', 'missing');
  if (!Array.isArray(rawTokens)) throw new RecordProblem('tokenized_text', `must be an array of strings, got ${typeName(rawTokens)}`);
  const tokens = new Array<string>(rawTokens.length);
  for (let i = 0; i < rawTokens.length; i++) {
    const t = rawTokens[i];
    if (typeof t !== 'string') throw new RecordProblem(`tokenized_text[${i}]`, `must be a string, got ${typeName(t)}`);
    // An empty word yields no subtoken, which would shift every later word's index in the model.
    if (t.length === 0) throw new RecordProblem(`tokenized_text[${i}]`, 'is an empty string');
    tokens[i] = t;
  }

  const rawNer = rec.ner;
  if (rawNer === undefined) throw new RecordProblem('ner', 'missing (use [] for a text without entities)');
  if (!Array.isArray(rawNer)) throw new RecordProblem('ner', `must be an array of [start, end, label], got ${typeName(rawNer)}`);
  const spans: TrainingSpan[] = [];
  for (let k = 0; k < rawNer.length; k++) {
    const key = `ner[${k}]`;
    const e = rawNer[k];
    if (!Array.isArray(e) || e.length !== 3) {
      throw new RecordProblem(key, `must be [start, end, label], got ${Array.isArray(e) ? `an array of length ${e.length}` : typeName(e)}`);
    }
    const [start, end] = e;
    if (!Number.isInteger(start) || start < 0) throw new RecordProblem(`${key}[0]`, `start must be a non-negative integer, got ${typeName(start)}`);
    if (!Number.isInteger(end) || end < 0) throw new RecordProblem(`${key}[1]`, `end must be a non-negative integer, got ${typeName(end)}`);
    if (end < start) throw new RecordProblem(key, `end ${end} < start ${start} (end is inclusive)`);
    if (end >= tokens.length) {
      throw new RecordProblem(key, `span [${start}, ${end}] is out of range for ${tokens.length} words (end is inclusive)`);
    }
    spans.push({ start, end, label: makeLabel(e[2], `${key}[2]`, opts) });
  }

  const ex: TrainingExample = { tokens, spans };
  if (rec.ner_labels !== undefined && rec.ner_labels !== null) {
    ex.labels = readLabelList(rec.ner_labels, 'ner_labels', opts);
    // no types to prompt: the example could not be trained on (drop the key for sampled types)
    if (ex.labels.length === 0) throw new RecordProblem('ner_labels', 'is an empty list (drop the key to use the gold and sampled types)');
  }
  if (opts.readNegatives !== false) {
    const negs: string[] = [];
    if (rec.ner_negatives !== undefined && rec.ner_negatives !== null) negs.push(...readLabelList(rec.ner_negatives, 'ner_negatives', opts));
    if (rec.negative !== undefined && rec.negative !== null) negs.push(...readLabelList(rec.negative, 'negative', opts));
    if (rec.ner_negatives != null || rec.negative != null) ex.negatives = dedupe(negs);
  }
  if (rec.label_descriptions !== undefined && rec.label_descriptions !== null) ex.descriptions = readDescriptions(rec.label_descriptions, opts);
  return ex;
}

/**
 * Matcher for entity mentions in one text, as upstream's converters do: the mention is split
 * into words with the same regex and compared with every window of the text's words, ignoring
 * case (upstream compares `" ".join(words).lower()`; since words contain no spaces that is the
 * same as comparing lower-cased words one by one).
 *
 * Upstream's search is O(text words x mention words) per mention, and an answer may repeat one
 * mention hundreds of times over a 100k-word text. Here each distinct mention is searched once
 * (results are cached by its lower-cased words), from the positions of its first word, or with
 * Knuth-Morris-Pratt when that first word is so common that checking every position would cost
 * more than one linear pass. `comparisons` counts word comparisons (tests bound it).
 */
export class MentionMatcher {
  private readonly lowered: string[];
  private readonly index = new Map<string, number[]>();
  private readonly cache = new Map<string, [number, number][]>();
  /** Word comparisons made so far (a cost measure, independent of machine speed). */
  comparisons = 0;

  constructor(
    readonly tokens: readonly string[],
    readonly splitter: WordSplitterName = 'regex',
  ) {
    this.lowered = tokens.map((t) => t.toLowerCase());
    this.lowered.forEach((w, i) => {
      const list = this.index.get(w);
      if (list) list.push(i);
      else this.index.set(w, [i]);
    });
  }

  /** A mention's lower-cased words joined: equal keys match at the same places. */
  static key(mention: string, splitter: WordSplitterName = 'regex'): string {
    return JSON.stringify(splitWordsWith(mention, splitter).map((w) => w.text.toLowerCase()));
  }

  /** Inclusive [start, end] word spans where `mention` occurs, left to right. Do not mutate the result. */
  find(mention: string): readonly [number, number][] {
    return this.findKey(MentionMatcher.key(mention, this.splitter));
  }

  /** As find(), for a key made by MentionMatcher.key. */
  findKey(key: string): readonly [number, number][] {
    let hit = this.cache.get(key);
    if (hit === undefined) {
      const words = JSON.parse(key) as string[];
      hit = words.length === 0 ? [] : this.search(words);
      this.cache.set(key, hit);
    }
    return hit;
  }

  private search(mention: readonly string[]): [number, number][] {
    const first = this.index.get(mention[0]);
    if (first === undefined) return [];
    const m = mention.length;
    const n = this.lowered.length;
    if (first.length * m > 2 * (n + m)) return this.kmp(mention);
    const out: [number, number][] = [];
    for (const p of first) {
      if (p + m > n) break; // positions are ascending
      let ok = true;
      for (let j = 1; j < m; j++) {
        this.comparisons++;
        if (this.lowered[p + j] !== mention[j]) {
          ok = false;
          break;
        }
      }
      if (ok) out.push([p, p + m - 1]);
    }
    return out;
  }

  /** Every (overlapping) occurrence of `mention` in O(text + mention) comparisons. */
  private kmp(mention: readonly string[]): [number, number][] {
    const m = mention.length;
    const fail = new Int32Array(m);
    for (let i = 1, k = 0; i < m; i++) {
      while (k > 0 && (this.comparisons++, mention[i] !== mention[k])) k = fail[k - 1];
      this.comparisons++;
      if (mention[i] === mention[k]) k++;
      fail[i] = k;
    }
    const out: [number, number][] = [];
    const text = this.lowered;
    for (let i = 0, k = 0; i < text.length; i++) {
      while (k > 0 && (this.comparisons++, text[i] !== mention[k])) k = fail[k - 1];
      this.comparisons++;
      if (text[i] === mention[k]) k++;
      if (k === m) {
        out.push([i - m + 1, i]);
        k = fail[k - 1];
      }
    }
    return out;
  }
}

/**
 * Adds the spans of `mention` labelled `label`; a mention already added with this label (same
 * words, any case) adds nothing new, so it is skipped without walking its matches again.
 */
function addMention(spans: SpanSet, matcher: MentionMatcher, done: Set<string>, mention: string, label: string): void {
  const key = MentionMatcher.key(mention, matcher.splitter);
  const pair = JSON.stringify([label, key]);
  if (done.has(pair)) return;
  done.add(pair);
  for (const [s, e] of matcher.findKey(key)) spans.add(s, e, label);
}

/** Collects spans, dropping exact duplicates (same start, end and label). */
class SpanSet {
  readonly spans: TrainingSpan[] = [];
  private readonly seen = new Set<string>();

  add(start: number, end: number, label: string): void {
    const key = `${start}\u0000${end}\u0000${label}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.spans.push({ start, end, label });
  }
}

const TEXT_PREFIX = 'Text: ';
const QUESTION_PREFIX = 'What describes ';
const QUESTION_SUFFIX = ' in the text?';

/** Convert one raw Pile-NER-type conversation record. */
export function convertPileNerRecord(rec: unknown, opts: ConvertOptions = {}): TrainingExample {
  if (!isObject(rec)) throw new RecordProblem('', `record must be a JSON object, got ${typeName(rec)}`);
  const conv = rec.conversations;
  if (!Array.isArray(conv)) throw new RecordProblem('conversations', `must be an array of turns, got ${typeName(conv)}`);

  let text: string | null = null;
  let pendingType: string | null = null;
  const answered: { type: string; mentions: string[] }[] = [];
  const negatives: string[] = [];
  const asked: string[] = [];
  for (let k = 0; k < conv.length; k++) {
    const turn = conv[k];
    const key = `conversations[${k}]`;
    if (!isObject(turn)) throw new RecordProblem(key, `must be an object with "from" and "value", got ${typeName(turn)}`);
    const from = turn.from;
    const value = turn.value;
    if (typeof from !== 'string') throw new RecordProblem(`${key}.from`, `must be a string, got ${typeName(from)}`);
    if (typeof value !== 'string') throw new RecordProblem(`${key}.value`, `must be a string, got ${typeName(value)}`);
    if (from === 'human' && value.startsWith(TEXT_PREFIX)) {
      text = value.slice(TEXT_PREFIX.length); // a later "Text: " turn replaces an earlier one, as upstream
    } else if (from === 'human' && value.startsWith(QUESTION_PREFIX)) {
      if (!value.endsWith(QUESTION_SUFFIX) || value.length < QUESTION_PREFIX.length + QUESTION_SUFFIX.length) {
        throw new RecordProblem(`${key}.value`, `question does not end with ${JSON.stringify(QUESTION_SUFFIX)}`);
      }
      pendingType = makeLabel(value.slice(QUESTION_PREFIX.length, value.length - QUESTION_SUFFIX.length), `${key}.value`, opts);
    } else if (from === 'gpt' && value.startsWith('[')) {
      if (pendingType === null) throw new RecordProblem(`${key}.value`, 'answer list without a preceding "What describes X in the text?" question');
      let mentions: string[];
      try {
        mentions = parseStringList(value);
      } catch (e) {
        throw new RecordProblem(`${key}.value`, `answer is not a list of strings: ${(e as Error).message}`);
      }
      asked.push(pendingType);
      if (mentions.length === 0) negatives.push(pendingType);
      else answered.push({ type: pendingType, mentions });
      pendingType = null;
    }
    // Other turns ("I've read this text.", system prompts) carry no annotation.
  }
  if (text === null) throw new RecordProblem('conversations', `no human turn starting with ${JSON.stringify(TEXT_PREFIX)}`);

  const tokens = splitWordsWith(text, opts.wordSplitter).map((w) => w.text);
  const matcher = new MentionMatcher(tokens, opts.wordSplitter);
  const spans = new SpanSet();
  const done = new Set<string>();
  for (const { type, mentions } of answered) {
    for (const mention of mentions) addMention(spans, matcher, done, mention, type);
  }
  const ex: TrainingExample = { tokens, spans: spans.spans };
  if (asked.length > 0) ex.askedTypes = dedupe(asked);
  if (opts.readNegatives !== false && negatives.length > 0) {
    // A type asked twice, once with mentions and once without, is not a negative.
    const positive = new Set(answered.map((a) => a.type));
    const negs = dedupe(negatives).filter((t) => !positive.has(t));
    if (negs.length > 0) ex.negatives = negs;
  }
  return ex;
}

/** Convert one NuNER record (`input` text, `output` list of "mention <> type"). */
export function convertNuNerRecord(rec: unknown, opts: ConvertOptions = {}): TrainingExample {
  if (!isObject(rec)) throw new RecordProblem('', `record must be a JSON object, got ${typeName(rec)}`);
  const input = rec.input;
  if (typeof input !== 'string') throw new RecordProblem('input', `must be a string, got ${typeName(input)}`);
  const output = rec.output;
  let items: unknown[];
  // About 2% of the published NuNER rows have an empty `output` cell; upstream's script drops them.
  if (typeof output === 'string' && output.trim() === '') throw new RecordProblem('output', 'is empty', 'empty-output');
  if (typeof output === 'string') {
    try {
      items = parseStringList(output);
    } catch (e) {
      throw new RecordProblem('output', `is not a list of strings: ${(e as Error).message}`);
    }
  } else if (Array.isArray(output)) {
    items = output;
  } else {
    throw new RecordProblem('output', `must be a list of "mention <> type" strings, got ${typeName(output)}`);
  }

  const tokens = splitWordsWith(input, opts.wordSplitter).map((w) => w.text);
  const matcher = new MentionMatcher(tokens, opts.wordSplitter);
  const spans = new SpanSet();
  const done = new Set<string>();
  for (let k = 0; k < items.length; k++) {
    const item = items[k];
    const key = `output[${k}]`;
    if (typeof item !== 'string') throw new RecordProblem(key, `must be a "mention <> type" string, got ${typeName(item)}`);
    const parts = item.split(' <> ');
    if (parts.length !== 2 && parts.length !== 3) {
      throw new RecordProblem(key, `expected "mention <> type" (or "mention <> type <> description"), got ${typeName(item)}`);
    }
    const label = makeLabel(parts[1], key, opts);
    addMention(spans, matcher, done, parts[0], label);
  }
  return { tokens, spans: spans.spans };
}

/** Convert a parsed record of the given schema. */
export function convertRecord(schema: DataSchema, rec: unknown, opts: ConvertOptions = {}): TrainingExample {
  switch (schema) {
    case 'gliner':
      return normalizeGlinerRecord(rec, opts);
    case 'pilener':
      return convertPileNerRecord(rec, opts);
    case 'nuner':
      return convertNuNerRecord(rec, opts);
  }
}
