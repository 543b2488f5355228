/**
 * SentencePiece text normalisation, following `src/normalizer.cc` of google/sentencepiece.
 *
 * The rules (e.g. nmt_nfkc) come compiled in the model as `precompiled_charsmap`:
 *   <u32 LE: trie size in bytes><Darts-clone double array (u32 LE units)><replacement strings>
 * The trie maps UTF-8 byte sequences to offsets of NUL-terminated replacement strings.
 * At each position the longest matching rule wins; where none matches, one character passes
 * through unchanged. Then whitespace is handled: leading/trailing/repeated spaces removed
 * (remove_extra_whitespaces), a space prepended (add_dummy_prefix) and spaces escaped as U+2581.
 *
 * Everything works on UTF-8 bytes, as the C++ does, so that rule matching, tie-breaking and
 * whitespace handling are byte-for-byte the same. We keep no offsets: GLiNER works on words.
 */
import type { NormalizerSpec } from './sentencepiece-model';

/** UTF-8 of U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's visible space. */
export const SPACE_SYMBOL_BYTES = Uint8Array.of(0xe2, 0x96, 0x81);
const SPACE = 0x20;

/** Length of the UTF-8 sequence started by `lead`, as SentencePiece's OneCharLen (1 for stray bytes). */
export function utf8CharLen(lead: number): number {
  // Same table as string_util::OneCharLen, indexed by the high nibble.
  return lead < 0xc0 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
}

/**
 * Length of a valid UTF-8 character at `pos`, or 0 if the bytes there are malformed
 * (truncated, bad continuation, overlong, surrogate or above U+10FFFF).
 */
export function validUtf8CharLen(bytes: Uint8Array, pos: number, end: number): number {
  const b0 = bytes[pos];
  if (b0 < 0x80) return 1;
  let len: number;
  let cp: number;
  if (b0 >= 0xc2 && b0 < 0xe0) {
    len = 2;
    cp = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 < 0xf0) {
    len = 3;
    cp = b0 & 0x0f;
  } else if (b0 >= 0xf0 && b0 < 0xf5) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (pos + len > end) return 0;
  for (let i = 1; i < len; i++) {
    const b = bytes[pos + i];
    if ((b & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if ((len === 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len === 4 && (cp < 0x10000 || cp > 0x10ffff))) {
    return 0;
  }
  return len;
}

/**
 * Read-only Darts-clone double array (the trie format SentencePiece embeds).
 * Unit layout (u32): bit 8 = has_leaf; bits 0-7 (+ MSB for leaves) = label;
 * offset = (unit >> 10) << ((unit & 0x200) >> 6); a leaf unit holds its value in bits 0-30.
 * Indices outside the array count as a mismatch rather than reading garbage.
 */
export class DoubleArrayTrie {
  constructor(readonly units: Uint32Array) {}

  private static offset(unit: number): number {
    return (unit >>> 10) << ((unit & 0x200) >>> 6);
  }

  /**
   * Common-prefix search of bytes[pos, end): calls back (length, value) for every key that is a
   * prefix, shortest first (commonPrefixSearch order). Returns the number of matches.
   */
  private search(bytes: Uint8Array, pos: number, end: number, stopAtFirst: boolean, out: Int32Array): number {
    const units = this.units;
    const n = units.length;
    if (n === 0) return 0;
    let found = 0;
    let nodePos = DoubleArrayTrie.offset(units[0]);
    for (let i = pos; i < end; i++) {
      const c = bytes[i];
      nodePos ^= c;
      if (nodePos >= n) return found;
      const unit = units[nodePos];
      // label() keeps the MSB, so leaf units never equal a byte label.
      if ((unit & 0x800000ff) >>> 0 !== c) return found;
      nodePos ^= DoubleArrayTrie.offset(unit);
      if ((unit >>> 8) & 1) {
        if (nodePos >= n) return found;
        out[0] = i + 1 - pos;
        out[1] = units[nodePos] & 0x7fffffff;
        found++;
        if (stopAtFirst) return found;
      }
    }
    return found;
  }

  /** Longest key that prefixes bytes[pos, end): writes [length, value] to `out`; false if none. */
  longestPrefix(bytes: Uint8Array, pos: number, end: number, out: Int32Array): boolean {
    return this.search(bytes, pos, end, false, out) > 0;
  }

  /** Shortest key that prefixes bytes[pos, end) (what Hugging Face's `Precompiled::transform` uses). */
  shortestPrefix(bytes: Uint8Array, pos: number, end: number, out: Int32Array): boolean {
    return this.search(bytes, pos, end, true, out) > 0;
  }
}

/** The decoded `precompiled_charsmap`: trie + pool of NUL-terminated replacement strings. */
export class PrecompiledCharsmap {
  readonly trie: DoubleArrayTrie;
  /** Replacement pool; trie values are byte offsets into it. */
  readonly pool: Uint8Array;

  /** @param blob the raw `precompiled_charsmap` bytes; `source` names it in errors. */
  constructor(
    blob: Uint8Array,
    readonly source = '<charsmap>',
  ) {
    const bad = (what: string): never => {
      throw new Error(`${source}: invalid precompiled_charsmap: ${what}`);
    };
    if (blob.length <= 4) bad(`blob is ${blob.length} bytes, too short for a trie`);
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieSize = view.getUint32(0, true);
    if (trieSize % 4 !== 0) bad(`trie size ${trieSize} is not a multiple of 4`);
    if (4 + trieSize > blob.length) bad(`trie size ${trieSize} exceeds the ${blob.length}-byte blob`);
    // Copy into an aligned array; the source buffer need not be 4-byte aligned.
    const units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < units.length; i++) units[i] = view.getUint32(4 + 4 * i, true);
    this.trie = new DoubleArrayTrie(units);
    this.pool = blob.slice(4 + trieSize);
  }

  /** End (exclusive) of the NUL-terminated replacement starting at `start`. */
  replacementEnd(start: number): number {
    const pool = this.pool;
    if (start > pool.length) {
      throw new Error(`${this.source}: invalid precompiled_charsmap: replacement offset ${start} is outside the ${pool.length}-byte pool`);
    }
    let e = start;
    while (e < pool.length && pool[e] !== 0) e++;
    return e;
  }
}

/** Longest-prefix matcher used for user-defined pieces, which bypass normalisation. */
export interface PrefixMatcher {
  /** Byte length of the longest key prefixing bytes[pos, end), or 0. */
  longestMatch(bytes: Uint8Array, pos: number, end: number): number;
}

/** Growable byte buffer, reused between calls to avoid per-word allocation. */
export class ByteBuffer {
  data: Uint8Array;
  length = 0;

  constructor(capacity = 256) {
    this.data = new Uint8Array(capacity);
  }

  clear(): void {
    this.length = 0;
  }

  reserve(extra: number): void {
    const need = this.length + extra;
    if (need <= this.data.length) return;
    let cap = this.data.length * 2;
    while (cap < need) cap *= 2;
    const grown = new Uint8Array(cap);
    grown.set(this.data.subarray(0, this.length));
    this.data = grown;
  }

  push(b: number): void {
    if (this.length === this.data.length) this.reserve(1);
    this.data[this.length++] = b;
  }

  append(src: Uint8Array, start: number, end: number): void {
    this.reserve(end - start);
    this.data.set(src.subarray(start, end), this.length);
    this.length += end - start;
  }

  /** Copies the UTF-8 of `text` in, replacing the content. */
  setUtf8(text: string): void {
    this.length = 0;
    // A UTF-16 unit never needs more than 3 UTF-8 bytes.
    this.reserve(text.length * 3);
    this.length = UTF8_ENCODER.encodeInto(text, this.data).written;
  }
}

const UTF8_ENCODER = new TextEncoder();
// ignoreBOM: a leading U+FEFF is text here, not a byte-order mark to drop.
const UTF8_DECODER = new TextDecoder('utf-8', { ignoreBOM: true });
const REPLACEMENT_CHAR = Uint8Array.of(0xef, 0xbf, 0xbd);

/** Options of the normaliser: the model's NormalizerSpec plus one TrainerSpec flag. */
export interface SpmNormalizerOptions {
  spec: NormalizerSpec;
  /** TrainerSpec.treat_whitespace_as_suffix: the dummy space goes at the end instead. */
  treatWhitespaceAsSuffix?: boolean;
  /** User-defined pieces, which are copied through without normalisation. */
  userDefined?: PrefixMatcher | null;
  /** Names the model in errors. */
  source?: string;
}

/** SentencePiece's Normalizer (normalizer.cc), minus the offset mapping. */
export class SpmNormalizer {
  private readonly charsmap: PrecompiledCharsmap | null;
  private readonly addDummyPrefix: boolean;
  private readonly removeExtraWhitespaces: boolean;
  private readonly escapeWhitespaces: boolean;
  private readonly treatWhitespaceAsSuffix: boolean;
  private readonly userDefined: PrefixMatcher | null;
  private readonly input = new ByteBuffer();
  private readonly output = new ByteBuffer();
  private readonly match = new Int32Array(2);
  // Result of the last normalizePrefix: replacement bytes [repStart, repEnd) of repSrc.
  private repSrc: Uint8Array = REPLACEMENT_CHAR;
  private repStart = 0;
  private repEnd = 0;

  constructor(options: SpmNormalizerOptions) {
    const spec = options.spec;
    this.charsmap = spec.precompiledCharsmap.length > 0 ? new PrecompiledCharsmap(spec.precompiledCharsmap, options.source) : null;
    this.addDummyPrefix = spec.addDummyPrefix;
    this.removeExtraWhitespaces = spec.removeExtraWhitespaces;
    this.escapeWhitespaces = spec.escapeWhitespaces;
    this.treatWhitespaceAsSuffix = options.treatWhitespaceAsSuffix ?? false;
    this.userDefined = options.userDefined ?? null;
  }

  /**
   * Finds the normalised form of the prefix of bytes[pos, end): sets repSrc/repStart/repEnd
   * and returns how many input bytes it consumes (NormalizePrefix in normalizer.cc).
   */
  private normalizePrefix(bytes: Uint8Array, pos: number, end: number): number {
    // User-defined symbols are matched before (and instead of) the normalisation rules.
    if (this.userDefined !== null) {
      const len = this.userDefined.longestMatch(bytes, pos, end);
      if (len > 0) {
        this.setRep(bytes, pos, pos + len);
        return len;
      }
    }
    if (this.charsmap !== null && this.charsmap.trie.longestPrefix(bytes, pos, end, this.match)) {
      const start = this.match[1];
      this.setRep(this.charsmap.pool, start, this.charsmap.replacementEnd(start));
      return this.match[0];
    }
    const len = validUtf8CharLen(bytes, pos, end);
    if (len === 0) {
      // Malformed UTF-8: emit U+FFFD but consume a single byte, like the C++.
      this.setRep(REPLACEMENT_CHAR, 0, 3);
      return 1;
    }
    this.setRep(bytes, pos, pos + len);
    return len;
  }

  private setRep(src: Uint8Array, start: number, end: number): void {
    this.repSrc = src;
    this.repStart = start;
    this.repEnd = end;
  }

  private addSpace(out: ByteBuffer): void {
    if (this.escapeWhitespaces) out.append(SPACE_SYMBOL_BYTES, 0, 3);
    else out.push(SPACE);
  }

  /**
   * Normalises UTF-8 bytes[0, len) into `out` (cleared first). `bytes` must not alias `out`.
   */
  normalizeBytes(bytes: Uint8Array, len: number, out: ByteBuffer): void {
    out.clear();
    let pos = 0;
    // Drop leading whitespace (anything that normalises to exactly one space).
    if (this.removeExtraWhitespaces) {
      while (pos < len) {
        const consumed = this.normalizePrefix(bytes, pos, len);
        if (this.repEnd - this.repStart !== 1 || this.repSrc[this.repStart] !== SPACE) break;
        pos += consumed;
      }
    }
    if (pos >= len) return;

    if (!this.treatWhitespaceAsSuffix && this.addDummyPrefix) this.addSpace(out);

    let isPrevSpace = this.removeExtraWhitespaces;
    while (pos < len) {
      const consumed = this.normalizePrefix(bytes, pos, len);
      const src = this.repSrc;
      let s = this.repStart;
      const e = this.repEnd;
      // Collapse runs: skip spaces at the start of a replacement that follows a space.
      if (isPrevSpace) while (s < e && src[s] === SPACE) s++;
      if (s < e) {
        if (this.escapeWhitespaces) {
          out.reserve((e - s) * 3);
          for (let i = s; i < e; i++) {
            const b = src[i];
            if (b === SPACE) out.append(SPACE_SYMBOL_BYTES, 0, 3);
            else out.data[out.length++] = b;
          }
        } else {
          out.append(src, s, e);
        }
        isPrevSpace = src[e - 1] === SPACE;
      }
      pos += consumed;
      if (!this.removeExtraWhitespaces) isPrevSpace = false;
    }

    // Drop trailing (escaped) spaces.
    if (this.removeExtraWhitespaces) {
      const d = out.data;
      if (this.escapeWhitespaces) {
        while (out.length >= 3 && d[out.length - 3] === 0xe2 && d[out.length - 2] === 0x96 && d[out.length - 1] === 0x81) {
          out.length -= 3;
        }
      } else {
        while (out.length >= 1 && d[out.length - 1] === SPACE) out.length -= 1;
      }
    }

    if (this.treatWhitespaceAsSuffix && this.addDummyPrefix) this.addSpace(out);
  }

  /** Normalises `text`; the result is UTF-8 in a buffer that the next call overwrites. */
  normalizeToBuffer(text: string): ByteBuffer {
    this.input.setUtf8(text);
    this.normalizeBytes(this.input.data, this.input.length, this.output);
    return this.output;
  }

  /** Normalises `text` to a string (with U+2581 for spaces when escaping is on). */
  normalize(text: string): string {
    const out = this.normalizeToBuffer(text);
    return UTF8_DECODER.decode(out.data.subarray(0, out.length));
  }
}
