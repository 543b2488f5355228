/**
 * Loading a Hugging Face fast-tokenizer file (`tokenizer.json`) with a Unigram model, as
 * produced for DeBERTa-v3 by transformers' `DebertaV2Converter`:
 *   normalizer:    Sequence[Strip, Precompiled(charsmap), Replace(" {2,}" -> " ")] (+ Lowercase)
 *   pre_tokenizer: Metaspace(replacement "▁", prepend_scheme "always" | "first" | "never")
 *   model:         Unigram { vocab: [[piece, score], ...], unk_id, byte_fallback }
 *   added_tokens:  [{ id, content, special, lstrip, rstrip, normalized, single_word }]
 *
 * The pipeline follows the `tokenizers` crate, which differs from SentencePiece in places:
 * Precompiled works per grapheme cluster (and takes the shortest rule matching a cluster),
 * the Viterbi runs per Metaspace word in float64, and unknown runs are fused before the
 * vocabulary lookup. Components outside the list below are rejected with a clear error.
 */
import { ByteBuffer, PrecompiledCharsmap } from './normalizer';
import { SafeRegex, compileModelRegex } from './safe-regex';
import { PieceType, UnigramModel } from './unigram';
import type { AddedToken, SubwordModel } from './deberta-tokenizer';
import { ByteLevelBpeModel } from './byte-level-bpe';
import { WordPieceModel, bertNormalize, bertPreTokenize } from './wordpiece';

type Json = unknown;
type JsonObject = Record<string, unknown>;

class JsonShapeError extends Error {}

function isObject(v: Json): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Accessors that name the offending key path in their errors. */
function expectObject(v: Json, path: string): JsonObject {
  if (!isObject(v)) throw new JsonShapeError(`${path} must be an object`);
  return v;
}
function expectString(v: Json, path: string): string {
  if (typeof v !== 'string') throw new JsonShapeError(`${path} must be a string`);
  return v;
}
function optionalBool(v: Json, path: string, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new JsonShapeError(`${path} must be a boolean`);
  return v;
}

/** Unicode White_Space, which Rust's `char::is_whitespace` tests (unlike JS trim, which also strips U+FEFF). */
const LEADING_WS = /^\p{White_Space}+/u;
const TRAILING_WS = /\p{White_Space}+$/u;

type StringTransform = (s: string) => string;

/** HF `Precompiled` normaliser: charsmap rules applied per extended grapheme cluster. */
function precompiledTransform(charsmap: PrecompiledCharsmap): StringTransform {
  const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  const buf = new ByteBuffer();
  const match = new Int32Array(2);
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  // Replacement for the shortest rule prefixing `s` (spm_precompiled's `transform`), or null.
  const transform = (s: string): string | null => {
    buf.setUtf8(s);
    if (!charsmap.trie.shortestPrefix(buf.data, 0, buf.length, match)) return null;
    const start = match[1];
    return decoder.decode(charsmap.pool.subarray(start, charsmap.replacementEnd(start)));
  };
  const utf8Len = (s: string): number => Buffer.byteLength(s, 'utf8');
  return (text) => {
    let out = '';
    for (const { segment } of segmenter.segment(text)) {
      if (utf8Len(segment) < 6) {
        const whole = transform(segment);
        if (whole !== null) {
          out += whole;
          continue;
        }
      }
      for (const ch of segment) out += transform(ch) ?? ch;
    }
    return out;
  };
}

function buildNormalizer(spec: Json, path: string): StringTransform {
  if (spec === null || spec === undefined) return (s) => s;
  const o = expectObject(spec, path);
  const type = expectString(o.type, `${path}.type`);
  switch (type) {
    case 'Sequence': {
      if (!Array.isArray(o.normalizers)) throw new JsonShapeError(`${path}.normalizers must be an array`);
      const steps = o.normalizers.map((n, i) => buildNormalizer(n, `${path}.normalizers[${i}]`));
      return (s) => steps.reduce((acc, f) => f(acc), s);
    }
    case 'Precompiled': {
      if (o.precompiled_charsmap === null || o.precompiled_charsmap === undefined || o.precompiled_charsmap === '') return (s) => s;
      const b64 = expectString(o.precompiled_charsmap, `${path}.precompiled_charsmap`);
      const blob = new Uint8Array(Buffer.from(b64, 'base64'));
      return precompiledTransform(new PrecompiledCharsmap(blob, `${path}.precompiled_charsmap`));
    }
    case 'Strip': {
      const left = optionalBool(o.strip_left, `${path}.strip_left`, true);
      const right = optionalBool(o.strip_right, `${path}.strip_right`, true);
      return (s) => {
        if (left) s = s.replace(LEADING_WS, '');
        if (right) s = s.replace(TRAILING_WS, '');
        return s;
      };
    }
    case 'Replace': {
      const pattern = expectObject(o.pattern, `${path}.pattern`);
      const content = expectString(o.content, `${path}.content`);
      if (typeof pattern.String === 'string') {
        const lit = pattern.String;
        return (s) => (lit.length === 0 ? s : s.split(lit).join(content));
      }
      const src = expectString(pattern.Regex, `${path}.pattern.Regex`);
      // A model file's regex runs on a linear-time engine (a backtracking one can be made to hang).
      let re: SafeRegex;
      try {
        re = compileModelRegex(src, `${path}.pattern.Regex`);
      } catch (e) {
        throw new JsonShapeError((e as Error).message);
      }
      // Literal replacement: `$` in content has no special meaning in tokenizers.
      return (s) => re.replaceAll(s, content);
    }
    case 'Lowercase':
      return (s) => s.toLowerCase();
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (s) => s.normalize(type);
    case 'StripAccents':
      return (s) => s.replace(/\p{Mn}/gu, '');
    case 'BertNormalizer': {
      const sa = o.strip_accents;
      if (sa !== undefined && sa !== null && typeof sa !== 'boolean') throw new JsonShapeError(`${path}.strip_accents must be a boolean or null`);
      const opts = {
        cleanText: optionalBool(o.clean_text, `${path}.clean_text`, true),
        handleChineseChars: optionalBool(o.handle_chinese_chars, `${path}.handle_chinese_chars`, true),
        stripAccents: (sa ?? null) as boolean | null,
        lowercase: optionalBool(o.lowercase, `${path}.lowercase`, true),
      };
      return (s) => bertNormalize(s, opts);
    }
    case 'Prepend': {
      const prefix = expectString(o.prepend, `${path}.prepend`);
      return (s) => (s.length > 0 ? prefix + s : s);
    }
    default:
      throw new JsonShapeError(`${path}.type ${JSON.stringify(type)} is not a supported normalizer`);
  }
}

/** Splits `s` before every occurrence of `sep`, keeping it at the start of the next part (MergedWithNext). */
function splitMergedWithNext(s: string, sep: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = s.indexOf(sep, 0);
  while (i !== -1) {
    if (i > start) out.push(s.slice(start, i));
    start = i;
    i = s.indexOf(sep, i + sep.length);
  }
  if (start < s.length) out.push(s.slice(start));
  return out;
}

/** A pre-tokenizer maps one normalised chunk to words; `first` is true for a chunk starting its word. */
type PreTokenize = (words: string[], first: boolean) => string[];

const PUNCT = /[!-/:-@[-`{-~]|\p{P}/u;

function buildPreTokenizer(spec: Json, path: string): PreTokenize {
  if (spec === null || spec === undefined) return (w) => w;
  const o = expectObject(spec, path);
  const type = expectString(o.type, `${path}.type`);
  switch (type) {
    case 'Sequence': {
      if (!Array.isArray(o.pretokenizers)) throw new JsonShapeError(`${path}.pretokenizers must be an array`);
      const steps = o.pretokenizers.map((p, i) => buildPreTokenizer(p, `${path}.pretokenizers[${i}]`));
      return (words, first) => steps.reduce((acc, f) => f(acc, first), words);
    }
    case 'Metaspace': {
      const rep = expectString(o.replacement, `${path}.replacement`);
      if ([...rep].length !== 1) throw new JsonShapeError(`${path}.replacement must be one character`);
      let scheme = o.prepend_scheme === undefined ? 'always' : expectString(o.prepend_scheme, `${path}.prepend_scheme`);
      if (!['always', 'first', 'never'].includes(scheme)) throw new JsonShapeError(`${path}.prepend_scheme ${JSON.stringify(scheme)} is not always/first/never`);
      // Legacy field: add_prefix_space=false means never.
      if (o.add_prefix_space === false) scheme = 'never';
      const split = optionalBool(o.split, `${path}.split`, true);
      return (words, first) => {
        const out: string[] = [];
        words.forEach((w, i) => {
          let s = w.split(' ').join(rep);
          // "first" prepends only where the original offset is 0: the first word of a chunk that starts its word.
          const prepend = scheme === 'always' || (scheme === 'first' && first && i === 0);
          if (prepend && !s.startsWith(rep)) s = rep + s;
          if (split) out.push(...splitMergedWithNext(s, rep));
          else if (s.length > 0) out.push(s);
        });
        return out;
      };
    }
    case 'WhitespaceSplit':
      return (words) => words.flatMap((w) => w.split(/\p{White_Space}+/u).filter((x) => x.length > 0));
    case 'Punctuation': {
      const behavior = o.behavior === undefined ? 'isolated' : expectString(o.behavior, `${path}.behavior`);
      if (behavior !== 'isolated') throw new JsonShapeError(`${path}.behavior ${JSON.stringify(behavior)} is not supported (only "isolated")`);
      return (words) =>
        words.flatMap((w) => {
          const out: string[] = [];
          let cur = '';
          for (const ch of w) {
            if (PUNCT.test(ch)) {
              if (cur) out.push(cur);
              cur = '';
              out.push(ch);
            } else cur += ch;
          }
          if (cur) out.push(cur);
          return out;
        });
    }
    default:
      throw new JsonShapeError(`${path}.type ${JSON.stringify(type)} is not a supported pre_tokenizer`);
  }
}

/** The Unigram model plus normaliser and pre-tokenizer of a tokenizer.json. */
export class HfUnigramModel implements SubwordModel {
  readonly unkId: number;
  readonly pieceCount: number;
  readonly byteFallback: boolean;
  private readonly hasUnk: boolean;
  private readonly pieces: string[];
  private readonly ids = new Map<string, number>();
  private readonly unigram: UnigramModel;
  private readonly normalize: StringTransform;
  private readonly preTokenize: PreTokenize;
  private readonly buf = new ByteBuffer();
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(vocab: readonly [string, number][], unkId: number | null, byteFallback: boolean, normalize: StringTransform, preTokenize: PreTokenize) {
    this.pieces = vocab.map(([p]) => p);
    this.pieceCount = vocab.length;
    vocab.forEach(([p], i) => this.ids.set(p, i));
    this.hasUnk = unkId !== null;
    this.unkId = unkId ?? -1;
    this.byteFallback = byteFallback;
    this.normalize = normalize;
    this.preTokenize = preTokenize;
    this.unigram = new UnigramModel({
      pieces: vocab.map(([piece, score]) => ({ piece, score, type: PieceType.NORMAL })),
      unkId: this.unkId,
      flavor: 'huggingface',
    });
  }

  /** Normalised, pre-tokenized words of a chunk (`first`: the chunk starts its word). */
  words(text: string, first = true): string[] {
    const norm = this.normalize(text);
    if (norm.length === 0) return [];
    return this.preTokenize([norm], first).filter((w) => w.length > 0);
  }

  /** Viterbi pieces of one pre-tokenized word, unknown runs fused (fuse_unk). */
  private wordPieces(word: string, emit: (piece: string, isUnk: boolean) => void): void {
    const buf = this.buf;
    buf.setUtf8(word);
    const seg = this.unigram.encode(buf.data, buf.length);
    let i = 0;
    while (i < seg.count) {
      const isUnk = seg.ids[i] === this.unkId;
      let j = i + 1;
      if (isUnk) while (j < seg.count && seg.ids[j] === this.unkId) j++;
      emit(this.decoder.decode(buf.data.subarray(seg.starts[i], seg.ends[j - 1])), isUnk);
      i = j;
    }
  }

  private tokenIds(piece: string, out: number[]): void {
    const id = this.ids.get(piece);
    if (id !== undefined) {
      out.push(id);
      return;
    }
    if (this.byteFallback) {
      const bytes = Buffer.from(piece, 'utf8');
      const byteIds: number[] = [];
      for (const b of bytes) {
        const bid = this.ids.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
        if (bid === undefined) break;
        byteIds.push(bid);
      }
      if (byteIds.length === bytes.length) {
        out.push(...byteIds);
        return;
      }
    }
    if (!this.hasUnk) throw new Error(`tokenizer.json: cannot encode ${JSON.stringify(piece)}: the Unigram model has no unk_id`);
    out.push(this.unkId);
  }

  encodeToVocabIds(text: string, startsWord = true): number[] {
    const out: number[] = [];
    for (const w of this.words(text, startsWord)) this.wordPieces(w, (p) => this.tokenIds(p, out));
    return out;
  }

  encodeAsPieces(text: string): string[] {
    const out: string[] = [];
    for (const w of this.words(text)) {
      this.wordPieces(w, (p) => {
        if (this.ids.has(p) || !this.byteFallback) out.push(p);
        else {
          const ids: number[] = [];
          this.tokenIds(p, ids);
          for (const id of ids) out.push(this.pieces[id]);
        }
      });
    }
    return out;
  }

  vocabId(piece: string): number | undefined {
    return this.ids.get(piece);
  }

  idToPiece(id: number): string | undefined {
    return this.pieces[id];
  }
}

export interface ParsedTokenizerJson {
  model: SubwordModel;
  addedTokens: AddedToken[];
}

/**
 * Parses the content of a tokenizer.json (already JSON-decoded). Errors name `source` and the
 * offending key path.
 */
export function parseTokenizerJson(json: Json, source = 'tokenizer.json'): ParsedTokenizerJson {
  try {
    const root = expectObject(json, '(root)');
    const model = expectObject(root.model, 'model');
    const type = model.type === undefined ? 'Unigram' : expectString(model.type, 'model.type');
    let subword: SubwordModel;
    if (type === 'Unigram') subword = parseUnigram(root, model);
    else if (type === 'BPE') subword = parseBpe(root, model);
    else if (type === 'WordPiece') subword = parseWordPiece(root, model);
    else throw new JsonShapeError(`model.type ${JSON.stringify(type)} is not supported (Unigram, BPE, WordPiece)`);

    const addedTokens: AddedToken[] = [];
    if (root.added_tokens !== undefined && root.added_tokens !== null) {
      if (!Array.isArray(root.added_tokens)) throw new JsonShapeError('added_tokens must be an array');
      root.added_tokens.forEach((t, i) => {
        const o = expectObject(t, `added_tokens[${i}]`);
        if (!Number.isSafeInteger(o.id) || (o.id as number) < 0) throw new JsonShapeError(`added_tokens[${i}].id must be a non-negative integer`);
        addedTokens.push({
          id: o.id as number,
          content: expectString(o.content, `added_tokens[${i}].content`),
          special: optionalBool(o.special, `added_tokens[${i}].special`, false),
          lstrip: optionalBool(o.lstrip, `added_tokens[${i}].lstrip`, false),
          rstrip: optionalBool(o.rstrip, `added_tokens[${i}].rstrip`, false),
        });
      });
    }
    return { model: subword, addedTokens };
  } catch (e) {
    if (e instanceof JsonShapeError) throw new Error(`${source}: ${e.message}`);
    throw e;
  }
}

function parseUnigram(root: JsonObject, model: JsonObject): HfUnigramModel {
  if (!Array.isArray(model.vocab) || model.vocab.length === 0) throw new JsonShapeError('model.vocab must be a non-empty array of [piece, score]');
  const vocab: [string, number][] = model.vocab.map((e, i) => {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'number' || !Number.isFinite(e[1])) {
      throw new JsonShapeError(`model.vocab[${i}] must be [string, finite number]`);
    }
    return [e[0], e[1]];
  });
  let unkId: number | null = null;
  if (model.unk_id !== undefined && model.unk_id !== null) {
    if (!Number.isSafeInteger(model.unk_id) || (model.unk_id as number) < 0 || (model.unk_id as number) >= vocab.length) {
      throw new JsonShapeError(`model.unk_id ${JSON.stringify(model.unk_id)} is not an index into model.vocab (${vocab.length} entries)`);
    }
    unkId = model.unk_id as number;
  }
  const byteFallback = optionalBool(model.byte_fallback, 'model.byte_fallback', false);
  const normalize = buildNormalizer(root.normalizer, 'normalizer');
  const preTokenize = buildPreTokenizer(root.pre_tokenizer, 'pre_tokenizer');
  return new HfUnigramModel(vocab, unkId, byteFallback, normalize, preTokenize);
}

/** `model.vocab` of BPE / WordPiece: {piece: id}. */
function pieceVocab(model: JsonObject): Map<string, number> {
  const v = expectObject(model.vocab, 'model.vocab');
  const out = new Map<string, number>();
  for (const [piece, id] of Object.entries(v)) {
    if (!Number.isSafeInteger(id) || (id as number) < 0) throw new JsonShapeError(`model.vocab[${JSON.stringify(piece)}] must be a non-negative integer id`);
    out.set(piece, id as number);
  }
  if (out.size === 0) throw new JsonShapeError('model.vocab must not be empty');
  return out;
}

function optionalStringOrNull(v: Json, path: string): string | null {
  if (v === undefined || v === null) return null;
  return expectString(v, path);
}

function parseBpe(root: JsonObject, model: JsonObject): ByteLevelBpeModel {
  const vocab = pieceVocab(model);
  if (!Array.isArray(model.merges)) throw new JsonShapeError('model.merges must be an array');
  // Two layouts: "a b" strings (tokenizers < 0.20) or ["a", "b"] pairs.
  const merges: [string, string][] = model.merges.map((m, i) => {
    if (typeof m === 'string') {
      const k = m.indexOf(' ');
      if (k <= 0 || m.indexOf(' ', k + 1) !== -1) throw new JsonShapeError(`model.merges[${i}] must be "left right"`);
      return [m.slice(0, k), m.slice(k + 1)];
    }
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]];
    throw new JsonShapeError(`model.merges[${i}] must be "left right" or [left, right]`);
  });
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (optionalStringOrNull(model[key], `model.${key}`)) throw new JsonShapeError(`model.${key} is not supported for byte-level BPE`);
  }
  if (model.dropout !== undefined && model.dropout !== null && model.dropout !== 0) throw new JsonShapeError('model.dropout is not supported (inference tokenizers have none)');
  if (optionalBool(model.byte_fallback, 'model.byte_fallback', false)) throw new JsonShapeError('model.byte_fallback=true is not supported for BPE');
  const unkToken = optionalStringOrNull(model.unk_token, 'model.unk_token');
  let unkId: number | null = null;
  if (unkToken !== null) {
    const id = vocab.get(unkToken);
    if (id === undefined) throw new JsonShapeError(`model.unk_token ${JSON.stringify(unkToken)} is not in model.vocab`);
    unkId = id;
  }
  // The pre-tokenizer must be ByteLevel (alone or as the only step of a Sequence).
  let pre = expectObject(root.pre_tokenizer, 'pre_tokenizer');
  let prePath = 'pre_tokenizer';
  if (pre.type === 'Sequence' && Array.isArray(pre.pretokenizers) && pre.pretokenizers.length === 1) {
    pre = expectObject(pre.pretokenizers[0], 'pre_tokenizer.pretokenizers[0]');
    prePath = 'pre_tokenizer.pretokenizers[0]';
  }
  if (pre.type !== 'ByteLevel') throw new JsonShapeError(`${prePath}.type ${JSON.stringify(pre.type)} is not supported with BPE (only "ByteLevel")`);
  return new ByteLevelBpeModel({
    vocab,
    merges,
    unkId,
    ignoreMerges: optionalBool(model.ignore_merges, 'model.ignore_merges', false),
    addPrefixSpace: optionalBool(pre.add_prefix_space, `${prePath}.add_prefix_space`, true),
    useRegex: optionalBool(pre.use_regex, `${prePath}.use_regex`, true),
    normalize: buildNormalizer(root.normalizer, 'normalizer'),
  });
}

function parseWordPiece(root: JsonObject, model: JsonObject): WordPieceModel {
  const vocab = pieceVocab(model);
  const pre = root.pre_tokenizer === null || root.pre_tokenizer === undefined ? null : expectObject(root.pre_tokenizer, 'pre_tokenizer');
  if (!pre || pre.type !== 'BertPreTokenizer') throw new JsonShapeError(`pre_tokenizer.type ${JSON.stringify(pre?.type ?? null)} is not supported with WordPiece (only "BertPreTokenizer")`);
  const maxChars = model.max_input_chars_per_word ?? 100;
  if (!Number.isSafeInteger(maxChars) || (maxChars as number) < 1) throw new JsonShapeError('model.max_input_chars_per_word must be a positive integer');
  return new WordPieceModel({
    vocab,
    unkToken: optionalStringOrNull(model.unk_token, 'model.unk_token') ?? '[UNK]',
    prefix: optionalStringOrNull(model.continuing_subword_prefix, 'model.continuing_subword_prefix') ?? '##',
    maxInputCharsPerWord: maxChars as number,
    normalize: buildNormalizer(root.normalizer, 'normalizer'),
    preTokenize: bertPreTokenize,
  });
}
