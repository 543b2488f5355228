/**
 * Byte-level BPE as the `tokenizers` crate runs it for GPT-2 / RoBERTa / ModernBERT files:
 *   pre_tokenizer: ByteLevel { add_prefix_space, use_regex }: the GPT-2 split (written out below
 *                  as code, not run as a regex from the file), then every UTF-8 byte mapped to a
 *                  printable character (`bytes_to_unicode`, so a space becomes "Ġ");
 *   model:         BPE { vocab, merges }: within each word, repeatedly merge the adjacent pair
 *                  with the lowest merge rank.
 * The normaliser in front of it (ModernBERT: NFC) is passed in by tokenizer-json.ts.
 */
import type { SubwordModel } from './deberta-tokenizer';

/** GPT-2's reversible byte -> character table: printable Latin-1 bytes map to themselves. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const table: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    table[b] = String.fromCodePoint(printable ? b : next++);
  }
  return table;
})();

const LETTER = /^\p{L}$/u;
const NUMBER = /^\p{N}$/u;
const SPACE = /^\s$/u;
type CharClass = 'L' | 'N' | 'S' | 'O';
function classOf(ch: string): CharClass {
  if (LETTER.test(ch)) return 'L';
  if (NUMBER.test(ch)) return 'N';
  if (SPACE.test(ch)) return 'S';
  return 'O';
}

const CONTRACTIONS = ['re', 've', 'll', 's', 't', 'm', 'd'];

/**
 * The GPT-2 pre-tokenisation, alternative by alternative in the regex's order:
 *   's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
 * Returns the pieces (their concatenation is `text`).
 */
export function gpt2Split(text: string): string[] {
  const chars = Array.from(text);
  const cls = chars.map(classOf);
  const n = chars.length;
  const out: string[] = [];
  let i = 0;
  const runOf = (from: number, c: CharClass): number => {
    let j = from;
    while (j < n && cls[j] === c) j++;
    return j;
  };
  while (i < n) {
    let end = -1;
    if (chars[i] === "'") {
      for (const c of CONTRACTIONS) {
        if (chars.slice(i + 1, i + 1 + c.length).join('') === c) {
          end = i + 1 + c.length;
          break;
        }
      }
    }
    if (end < 0) {
      // " ?X+" for X in letters, numbers, other: an optional literal space, then a run of one class.
      const from = chars[i] === ' ' && i + 1 < n && cls[i + 1] !== 'S' ? i + 1 : i;
      if (cls[from] !== 'S') end = runOf(from, cls[from]);
    }
    if (end < 0) {
      // Whitespace: "\s+(?!\S)" keeps the last space for the next word when a non-space follows.
      const runEnd = runOf(i, 'S');
      end = runEnd < n && runEnd - i > 1 ? runEnd - 1 : runEnd;
    }
    out.push(chars.slice(i, end).join(''));
    i = end;
  }
  return out;
}

/** A word's UTF-8 bytes as byte-level characters. */
export function byteLevelChars(word: string): string {
  let s = '';
  for (const b of Buffer.from(word, 'utf8')) s += BYTE_TO_CHAR[b];
  return s;
}

export interface BpeOptions {
  vocab: Map<string, number>;
  /** Merge pairs in rank order. */
  merges: [string, string][];
  /** The unknown token's id, or null (a piece missing from the vocabulary is then an error). */
  unkId: number | null;
  ignoreMerges: boolean;
  addPrefixSpace: boolean;
  useRegex: boolean;
  normalize: (s: string) => string;
}

export class ByteLevelBpeModel implements SubwordModel {
  readonly unkId: number;
  readonly pieceCount: number;
  private readonly vocab: Map<string, number>;
  private readonly pieces: string[] = [];
  /** "left right" -> rank. A space cannot occur inside a byte-level piece, so it separates safely. */
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();

  constructor(private readonly opts: BpeOptions) {
    this.vocab = opts.vocab;
    for (const [p, id] of opts.vocab) this.pieces[id] = p;
    this.pieceCount = Math.max(-1, ...opts.vocab.values()) + 1;
    this.unkId = opts.unkId ?? -1;
    opts.merges.forEach(([a, b], r) => {
      const k = `${a} ${b}`;
      if (!this.ranks.has(k)) this.ranks.set(k, r);
    });
  }

  /** Normalised, pre-tokenized, byte-mapped words of a chunk. */
  words(text: string): string[] {
    let s = this.opts.normalize(text);
    if (s.length === 0) return [];
    if (this.opts.addPrefixSpace && !s.startsWith(' ')) s = ' ' + s;
    const parts = this.opts.useRegex ? gpt2Split(s) : [s];
    return parts.map(byteLevelChars);
  }

  /** BPE merges inside one byte-level word. */
  private bpe(word: string): string[] {
    if (this.opts.ignoreMerges && this.vocab.has(word)) return [word];
    let syms = Array.from(word);
    while (syms.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let k = 0; k + 1 < syms.length; k++) {
        const r = this.ranks.get(`${syms[k]} ${syms[k + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = k;
        }
      }
      if (best < 0) break;
      // Merge every non-overlapping occurrence of the best pair, left to right (same result as the crate's heap).
      const a = syms[best];
      const b = syms[best + 1];
      const merged: string[] = [];
      for (let k = 0; k < syms.length; k++) {
        if (k + 1 < syms.length && syms[k] === a && syms[k + 1] === b) {
          merged.push(a + b);
          k++;
        } else merged.push(syms[k]);
      }
      syms = merged;
    }
    return syms;
  }

  private wordIds(word: string): number[] {
    const cached = this.cache.get(word);
    if (cached) return cached;
    const ids: number[] = [];
    for (const p of this.bpe(word)) {
      const id = this.vocab.get(p);
      if (id !== undefined) ids.push(id);
      else if (this.opts.unkId !== null) ids.push(this.opts.unkId);
      else throw new Error(`tokenizer.json: BPE piece ${JSON.stringify(p)} is not in model.vocab and the model has no unk_token`);
    }
    if (this.cache.size > 50000) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }

  encodeToVocabIds(text: string): number[] {
    const out: number[] = [];
    for (const w of this.words(text)) for (const id of this.wordIds(w)) out.push(id);
    return out;
  }

  encodeAsPieces(text: string): string[] {
    return this.encodeToVocabIds(text).map((id) => this.pieces[id]);
  }

  vocabId(piece: string): number | undefined {
    return this.vocab.get(piece);
  }

  idToPiece(id: number): string | undefined {
    return this.pieces[id];
  }
}
