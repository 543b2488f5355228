/**
 * The DeBERTa-v2/v3 tokenizer as GLiNER drives it: on pre-split words
 * (`is_split_into_words=True`). For each word, added tokens ([CLS], <<ENT>>, ...) are split
 * out first; each remaining chunk is encoded by the subword model on its own, so every chunk
 * gets SentencePiece's dummy "▁" prefix; pieces not in the vocabulary become [UNK].
 * The caller wraps a sequence as [CLS] ... [SEP].
 *
 * Not modelled: added tokens with `single_word=true`, and `normalized=true` added tokens
 * matched on normalised text (the fast tokenizer's behaviour for non-special added tokens).
 */

/** What the tokenizer needs from a subword model (SentencePiece, or one loaded from tokenizer.json). */
export interface SubwordModel {
  /** Id of the unknown token. */
  readonly unkId: number;
  /** Number of entries in the model's own vocabulary (ids 0..pieceCount-1). */
  readonly pieceCount: number;
  /**
   * Encodes one chunk of text to vocabulary ids (unknown pieces -> unkId). `startsWord` is false
   * for a chunk that follows an added token inside a word (matters for Metaspace "first").
   */
  encodeToVocabIds(text: string, startsWord?: boolean): number[];
  /** Encodes one chunk of text to pieces (for inspection). */
  encodeAsPieces(text: string): string[];
  /** Id of a piece if the vocabulary has it. */
  vocabId(piece: string): number | undefined;
  idToPiece(id: number): string | undefined;
}

/** An added token, as in tokenizer_config.json's `added_tokens_decoder`. */
export interface AddedToken {
  content: string;
  id: number;
  special: boolean;
  /** Strip whitespace on the token's left / right neighbour when it is matched. */
  lstrip: boolean;
  rstrip: boolean;
}

export interface SpecialTokenNames {
  cls: string;
  sep: string;
  pad: string;
  unk: string;
  mask: string;
}

export const DEFAULT_SPECIAL_TOKENS: SpecialTokenNames = {
  cls: '[CLS]',
  sep: '[SEP]',
  pad: '[PAD]',
  unk: '[UNK]',
  mask: '[MASK]',
};

export interface DebertaV2TokenizerOptions {
  /** Added tokens with explicit ids (from added_tokens.json / added_tokens_decoder). */
  addedTokens?: readonly (Partial<AddedToken> & { content: string; id: number })[];
  /** Special token strings; defaults to DeBERTa's [CLS]/[SEP]/[PAD]/[UNK]/[MASK]. */
  specialTokens?: Partial<SpecialTokenNames>;
  /** tokenizer_config `do_lower_case`: lower-case each chunk before encoding. */
  doLowerCase?: boolean;
  /** tokenizer_config `split_by_punct`: encode punctuation characters as separate chunks. */
  splitByPunct?: boolean;
  /** Capacity of the word -> ids LRU cache (0 disables it). Default 20000. */
  cacheSize?: number;
}

/** A bounded LRU map built on Map's insertion order. */
class LruCache<K, V> {
  private readonly map = new Map<K, V>();
  constructor(readonly capacity: number) {}

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      // Re-insert to mark as most recently used.
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    if (this.capacity <= 0) return;
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) {
      // The first key in iteration order is the least recently used.
      const oldest = this.map.keys().next().value as K;
      this.map.delete(oldest);
    }
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}

/** Python `str.strip()` whitespace, close enough for added-token lstrip/rstrip. */
const LEADING_WS = /^\s+/u;
const TRAILING_WS = /\s+$/u;

/** `_is_punctuation` of tokenization_deberta_v2.py: ASCII non-alphanumerics or Unicode category P*. */
const PUNCT = /[!-/:-@[-`{-~]|\p{P}/u;

/** Splits text into runs of non-punctuation and single punctuation characters (`_run_split_on_punc`). */
function splitOnPunct(text: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const ch of text) {
    if (PUNCT.test(ch)) {
      if (current) out.push(current);
      current = '';
      out.push(ch);
    } else {
      current += ch;
    }
  }
  if (current) out.push(current);
  return out;
}

export class DebertaV2Tokenizer {
  readonly model: SubwordModel;
  private readonly added = new Map<string, AddedToken>();
  private readonly addedById = new Map<number, AddedToken>();
  /** Added tokens grouped by first UTF-16 unit, longest first, for leftmost-longest splitting. */
  private addedByFirstUnit = new Map<number, AddedToken[]>();
  private readonly specials: SpecialTokenNames;
  private readonly doLowerCase: boolean;
  private readonly splitByPunct: boolean;
  private readonly cache: LruCache<string, readonly number[]>;

  constructor(model: SubwordModel, options: DebertaV2TokenizerOptions = {}) {
    this.model = model;
    this.specials = { ...DEFAULT_SPECIAL_TOKENS, ...options.specialTokens };
    this.doLowerCase = options.doLowerCase ?? false;
    this.splitByPunct = options.splitByPunct ?? false;
    this.cache = new LruCache(options.cacheSize ?? 20000);
    for (const t of options.addedTokens ?? []) {
      this.registerAdded({ content: t.content, id: t.id, special: t.special ?? true, lstrip: t.lstrip ?? false, rstrip: t.rstrip ?? false });
    }
    // Special tokens must resolve to ids; like HF, they are never split, even when they are
    // only vocabulary pieces (older configs without added_tokens_decoder).
    for (const [role, token] of Object.entries(this.specials)) {
      if (this.added.has(token)) continue;
      const id = model.vocabId(token);
      if (id !== undefined) this.registerAdded({ content: token, id, special: true, lstrip: false, rstrip: false });
      else if (role !== 'mask') {
        throw new Error(`special token ${role}_token ${JSON.stringify(token)} is neither in the vocabulary nor an added token`);
      }
    }
    this.rebuildMatcher();
  }

  private registerAdded(t: AddedToken): void {
    if (t.content.length === 0) throw new Error(`added token with id ${t.id} has empty content`);
    if (!Number.isSafeInteger(t.id) || t.id < 0) throw new Error(`added token ${JSON.stringify(t.content)} has invalid id ${t.id}`);
    const prev = this.added.get(t.content);
    if (prev && prev.id !== t.id) {
      throw new Error(`added token ${JSON.stringify(t.content)} is given two ids (${prev.id} and ${t.id})`);
    }
    const other = this.addedById.get(t.id);
    if (other && other.content !== t.content) {
      throw new Error(`id ${t.id} is given to two added tokens (${JSON.stringify(other.content)} and ${JSON.stringify(t.content)})`);
    }
    this.added.set(t.content, t);
    this.addedById.set(t.id, t);
  }

  private rebuildMatcher(): void {
    const byFirst = new Map<number, AddedToken[]>();
    for (const t of this.added.values()) {
      const k = t.content.charCodeAt(0);
      const list = byFirst.get(k);
      if (list) list.push(t);
      else byFirst.set(k, [t]);
    }
    for (const list of byFirst.values()) list.sort((a, b) => b.content.length - a.content.length);
    this.addedByFirstUnit = byFirst;
    this.cache.clear();
  }

  /**
   * Splits a word around added tokens, leftmost-longest (as the HF added-token trie and the
   * fast tokenizer's Aho-Corasick both do for non-overlapping special tokens).
   * Returns the parts in order: strings are plain text, objects are matched added tokens.
   */
  private splitAdded(word: string): (string | AddedToken)[] {
    const parts: (string | AddedToken)[] = [];
    let textStart = 0;
    let i = 0;
    while (i < word.length) {
      const candidates = this.addedByFirstUnit.get(word.charCodeAt(i));
      let hit: AddedToken | undefined;
      if (candidates) {
        for (const t of candidates) {
          if (word.startsWith(t.content, i)) {
            hit = t;
            break;
          }
        }
      }
      if (hit) {
        if (i > textStart) parts.push(word.slice(textStart, i));
        parts.push(hit);
        i += hit.content.length;
        textStart = i;
      } else {
        i++;
      }
    }
    if (textStart < word.length) parts.push(word.slice(textStart));
    // lstrip/rstrip trim the neighbouring text chunks.
    for (let k = 0; k < parts.length; k++) {
      const p = parts[k];
      if (typeof p === 'string') continue;
      if (p.rstrip && typeof parts[k + 1] === 'string') parts[k + 1] = (parts[k + 1] as string).replace(LEADING_WS, '');
      if (p.lstrip && k > 0 && typeof parts[k - 1] === 'string') parts[k - 1] = (parts[k - 1] as string).replace(TRAILING_WS, '');
    }
    return parts;
  }

  private encodeChunk(text: string, startsWord: boolean, out: number[]): void {
    if (this.doLowerCase) text = text.toLowerCase();
    if (this.splitByPunct) {
      for (const w of splitOnPunct(text)) for (const id of this.model.encodeToVocabIds(w, startsWord)) out.push(id);
    } else {
      for (const id of this.model.encodeToVocabIds(text, startsWord)) out.push(id);
    }
  }

  /**
   * Token ids of one pre-split word (no [CLS]/[SEP]). A word made only of whitespace gives [].
   * Results are cached; the returned array is a fresh copy.
   */
  encodeWord(word: string): number[] {
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached.slice();
    const out: number[] = [];
    const parts = this.splitAdded(word);
    for (let k = 0; k < parts.length; k++) {
      const part = parts[k];
      if (typeof part === 'string') {
        if (part.length > 0) this.encodeChunk(part, k === 0, out);
      } else {
        out.push(part.id);
      }
    }
    this.cache.set(word, out.slice());
    return out;
  }

  /** Pieces of one pre-split word (added tokens as themselves, unknown pieces as the unk token). */
  tokenizeWord(word: string): string[] {
    return this.encodeWord(word).map((id) => this.idToToken(id) ?? this.specials.unk);
  }

  /**
   * A whole pre-split sequence as the model sees it: [CLS] + words + [SEP], with the index of
   * the word each token came from (null for [CLS]/[SEP]), like `BatchEncoding.word_ids()`.
   */
  encodeWords(words: readonly string[]): { inputIds: number[]; wordIds: (number | null)[] } {
    const inputIds = [this.clsId];
    const wordIds: (number | null)[] = [null];
    words.forEach((w, i) => {
      for (const id of this.encodeWord(w)) {
        inputIds.push(id);
        wordIds.push(i);
      }
    });
    inputIds.push(this.sepId);
    wordIds.push(null);
    return { inputIds, wordIds };
  }

  /** True if `token` is an added token or a vocabulary piece. */
  hasToken(token: string): boolean {
    return this.added.has(token) || this.model.vocabId(token) !== undefined;
  }

  /** Id of a token (added tokens first, then the vocabulary), or undefined if it has none. */
  tokenToId(token: string): number | undefined {
    return this.added.get(token)?.id ?? this.model.vocabId(token);
  }

  /** Id of a special token that the constructor checked exists. */
  private specialId(token: string): number {
    return this.tokenToId(token) ?? this.model.unkId;
  }

  /** Token string of an id, or undefined if no token has it. */
  idToToken(id: number): string | undefined {
    return this.addedById.get(id)?.content ?? this.model.idToPiece(id);
  }

  /** Size of the id space (max id + 1): what embedding matrices must cover (`len(tokenizer)`). */
  get vocabSize(): number {
    let n = this.model.pieceCount;
    for (const id of this.addedById.keys()) n = Math.max(n, id + 1);
    return n;
  }

  get clsId(): number {
    return this.specialId(this.specials.cls);
  }
  get sepId(): number {
    return this.specialId(this.specials.sep);
  }
  get padId(): number {
    return this.specialId(this.specials.pad);
  }
  get unkId(): number {
    return this.specialId(this.specials.unk);
  }
  /** Id of the mask token, or undefined if the tokenizer has none. */
  get maskId(): number | undefined {
    return this.tokenToId(this.specials.mask);
  }

  /** The special token strings in use. */
  get specialTokens(): Readonly<SpecialTokenNames> {
    return this.specials;
  }

  /** Added tokens, by id. */
  addedTokens(): AddedToken[] {
    return [...this.addedById.values()].sort((a, b) => a.id - b.id);
  }

  /**
   * Adds tokens that are not known yet, with ids from `vocabSize` upwards (as HF `add_tokens`
   * does); returns how many were added. Used for GLiNER's [FLERT], <<ENT>>, <<SEP>>.
   */
  addTokens(tokens: readonly string[], special = true): number {
    let added = 0;
    for (const content of tokens) {
      if (this.added.has(content)) continue;
      // A token already in the vocabulary keeps its id but becomes unsplittable.
      const existing = this.model.vocabId(content);
      this.registerAdded({ content, id: existing ?? this.vocabSize, special, lstrip: false, rstrip: false });
      if (existing === undefined) added++;
    }
    this.rebuildMatcher();
    return added;
  }

  /** Number of words currently cached. */
  get cacheSize(): number {
    return this.cache.size;
  }

  clearCache(): void {
    this.cache.clear();
  }
}
