/**
 * BERT's tokenizer.json pipeline as the `tokenizers` crate runs it:
 *   normalizer:    BertNormalizer { clean_text, handle_chinese_chars, strip_accents, lowercase }
 *   pre_tokenizer: BertPreTokenizer (split on whitespace, every punctuation character on its own)
 *   model:         WordPiece { vocab, unk_token, continuing_subword_prefix "##", max_input_chars_per_word }
 * Greedy longest-match-first per word; a word with no full segmentation becomes the unknown token.
 */
import type { SubwordModel } from './deberta-tokenizer';

export interface BertNormalizerOptions {
  cleanText: boolean;
  handleChineseChars: boolean;
  /** null: follow `lowercase` (the crate's default). */
  stripAccents: boolean | null;
  lowercase: boolean;
}

/** Rust `char::is_whitespace` (Unicode White_Space); BERT also counts \t \n \r. */
const WHITESPACE = /^\p{White_Space}$/u;
/** Rust's `is_other`: Cc, Cf, Cs, Co, Cn. */
const OTHER = /^\p{C}$/u;
const NONSPACING_MARK = /\p{Mn}/gu;
const UNICODE_PUNCT = /^\p{P}$/u;

function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

export function bertNormalize(text: string, o: BertNormalizerOptions): string {
  let s = text;
  if (o.cleanText) {
    let out = '';
    for (const ch of s) {
      const cp = ch.codePointAt(0)!;
      if (cp === 0 || cp === 0xfffd) continue;
      const ws = ch === '\t' || ch === '\n' || ch === '\r' || WHITESPACE.test(ch);
      if (!ws && OTHER.test(ch)) continue;
      out += ws ? ' ' : ch;
    }
    s = out;
  }
  if (o.handleChineseChars) {
    let out = '';
    for (const ch of s) out += isChineseChar(ch.codePointAt(0)!) ? ` ${ch} ` : ch;
    s = out;
  }
  if (o.stripAccents ?? o.lowercase) s = s.normalize('NFD').replace(NONSPACING_MARK, '');
  if (o.lowercase) {
    // Per character, as the crate does (no context-dependent final sigma).
    let out = '';
    for (const ch of s) out += ch.toLowerCase();
    s = out;
  }
  return s;
}

function isBertPunct(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  const asciiPunct = (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
  return asciiPunct || UNICODE_PUNCT.test(ch);
}

/** BertPreTokenizer: whitespace removed, punctuation isolated. */
export function bertPreTokenize(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const ch of text) {
    if (WHITESPACE.test(ch)) {
      if (cur) out.push(cur);
      cur = '';
    } else if (isBertPunct(ch)) {
      if (cur) out.push(cur);
      cur = '';
      out.push(ch);
    } else cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

export interface WordPieceOptions {
  vocab: Map<string, number>;
  unkToken: string;
  prefix: string;
  maxInputCharsPerWord: number;
  normalize: (s: string) => string;
  preTokenize: (s: string) => string[];
}

export class WordPieceModel implements SubwordModel {
  readonly unkId: number;
  readonly pieceCount: number;
  private readonly pieces: string[] = [];

  constructor(private readonly opts: WordPieceOptions, source = 'tokenizer.json') {
    for (const [p, id] of opts.vocab) this.pieces[id] = p;
    this.pieceCount = Math.max(-1, ...opts.vocab.values()) + 1;
    const unk = opts.vocab.get(opts.unkToken);
    if (unk === undefined) throw new Error(`${source}: model.unk_token ${JSON.stringify(opts.unkToken)} is not in model.vocab`);
    this.unkId = unk;
  }

  private wordIds(word: string, out: number[]): void {
    const chars = Array.from(word);
    if (chars.length > this.opts.maxInputCharsPerWord) {
      out.push(this.unkId);
      return;
    }
    const ids: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found: number | undefined;
      while (start < end) {
        let sub = chars.slice(start, end).join('');
        if (start > 0) sub = this.opts.prefix + sub;
        found = this.opts.vocab.get(sub);
        if (found !== undefined) break;
        end--;
      }
      if (found === undefined) {
        out.push(this.unkId);
        return;
      }
      ids.push(found);
      start = end;
    }
    out.push(...ids);
  }

  encodeToVocabIds(text: string): number[] {
    const out: number[] = [];
    for (const w of this.opts.preTokenize(this.opts.normalize(text))) this.wordIds(w, out);
    return out;
  }

  encodeAsPieces(text: string): string[] {
    return this.encodeToVocabIds(text).map((id) => this.pieces[id]);
  }

  vocabId(piece: string): number | undefined {
    return this.opts.vocab.get(piece);
  }

  idToPiece(id: number): string | undefined {
    return this.pieces[id];
  }
}
