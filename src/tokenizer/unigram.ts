/**
 * Unigram-LM segmentation (Viterbi over a piece lattice), following
 * `Model::EncodeOptimized` in google/sentencepiece `src/unigram_model.cc`, with a flavour switch
 * for the Hugging Face `tokenizers` port (`models/unigram/model.rs`, `encode_optimized`).
 *
 * Both walk the UTF-8 bytes of the normalised text one character at a time; at each start they
 * follow the piece trie byte by byte and relax best_path_ends_at[end] for every piece found.
 * A character that no single-character piece covers gets an unknown node scored
 * min_score - 10. Ties keep the earlier candidate (strict `>`), candidates being visited by
 * increasing start, then increasing length.
 *
 * The flavours differ in details that change results on near-ties:
 *  - 'sentencepiece': float32 arithmetic (scores are `float` in C++); only NORMAL,
 *    USER_DEFINED and UNUSED pieces are in the trie; UNUSED ones are skipped; user-defined
 *    pieces score `length * max_score - 0.1` so they always win; min/max over NORMAL pieces.
 *  - 'huggingface': float64 arithmetic; every vocabulary entry is in the trie with its own
 *    score; min_score over all entries.
 */
import { utf8CharLen } from './normalizer';
import type { PrefixMatcher } from './normalizer';

/** Piece kinds (values are SentencePiece's ModelProto.SentencePiece.Type). */
export enum PieceType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

/**
 * Byte trie with compact child lists: node i's children are
 * labels/targets[childStart[i], childStart[i + 1]), sorted by label.
 * The root has a direct 256-entry table since every lookup starts there.
 */
export class ByteTrie implements PrefixMatcher {
  private readonly childStart: Int32Array;
  private readonly labels: Uint8Array;
  private readonly targets: Int32Array;
  /** Value stored at each node, -1 when no key ends there. */
  private readonly values: Int32Array;
  private readonly rootTable = new Int32Array(256).fill(-1);

  /** Keys as UTF-8 byte strings with their values; for duplicate keys the last one wins. */
  constructor(keys: readonly Uint8Array[], keyValues: readonly number[]) {
    // Sort the keys bytewise (stable, so duplicates keep their order), then build breadth-first:
    // a node is a range of sorted keys sharing a prefix of length `depth`, and its children,
    // one per distinct next byte, get consecutive node numbers. No per-node objects needed,
    // which matters for 128k-piece vocabularies.
    const order = keys.map((_, i) => i).sort((a, b) => compareBytes(keys[a], keys[b]));
    const lo: number[] = [0];
    const hi: number[] = [order.length];
    const depth: number[] = [0];
    const values: number[] = [];
    const childStart: number[] = [];
    const labels: number[] = [];
    const targets: number[] = [];
    for (let node = 0; node < lo.length; node++) {
      let a = lo[node];
      const b = hi[node];
      const d = depth[node];
      let value = -1;
      // Keys that end here sort before the longer ones sharing this prefix.
      while (a < b && keys[order[a]].length === d) value = keyValues[order[a++]];
      values.push(value);
      childStart.push(labels.length);
      while (a < b) {
        const label = keys[order[a]][d];
        let j = a + 1;
        while (j < b && keys[order[j]][d] === label) j++;
        labels.push(label);
        targets.push(lo.length);
        lo.push(a);
        hi.push(j);
        depth.push(d + 1);
        a = j;
      }
    }
    childStart.push(labels.length);
    this.childStart = Int32Array.from(childStart);
    this.labels = Uint8Array.from(labels);
    this.targets = Int32Array.from(targets);
    this.values = Int32Array.from(values);
    for (let i = this.childStart[0]; i < this.childStart[1]; i++) this.rootTable[this.labels[i]] = this.targets[i];
  }

  /** Child of `node` along byte `b`, or -1. */
  child(node: number, b: number): number {
    if (node === 0) return this.rootTable[b];
    let lo = this.childStart[node];
    let hi = this.childStart[node + 1];
    const labels = this.labels;
    // Most nodes have few children: a linear scan beats binary search there.
    if (hi - lo <= 8) {
      for (; lo < hi; lo++) {
        const l = labels[lo];
        if (l === b) return this.targets[lo];
        if (l > b) return -1;
      }
      return -1;
    }
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const l = labels[mid];
      if (l === b) return this.targets[mid];
      if (l < b) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  /** Value at `node`, or -1. */
  value(node: number): number {
    return this.values[node];
  }

  /** Value of the exact key bytes[start, end), or -1. */
  get(bytes: Uint8Array, start: number, end: number): number {
    let node = 0;
    for (let i = start; i < end; i++) {
      node = this.child(node, bytes[i]);
      if (node < 0) return -1;
    }
    return this.values[node];
  }

  longestMatch(bytes: Uint8Array, pos: number, end: number): number {
    let node = 0;
    let best = 0;
    for (let i = pos; i < end; i++) {
      node = this.child(node, bytes[i]);
      if (node < 0) break;
      if (this.values[node] >= 0) best = i + 1 - pos;
    }
    return best;
  }
}

export type UnigramFlavor = 'sentencepiece' | 'huggingface';

export interface UnigramPiece {
  piece: string;
  score: number;
  type: PieceType;
}

export interface UnigramOptions {
  /** The vocabulary; a piece's id is its index. */
  pieces: readonly UnigramPiece[];
  unkId: number;
  flavor: UnigramFlavor;
}

/** Segments of one Viterbi result, in text order; valid until the next `encode` call. */
export interface Segmentation {
  count: number;
  /** Byte offsets into the normalised input. */
  starts: Int32Array;
  ends: Int32Array;
  ids: Int32Array;
}

const UNK_PENALTY = 10;
const FLT_MAX = 3.4028234663852886e38;
const FLT_MIN = 1.1754943508222875e-38;
const UTF8 = new TextEncoder();

/** Viterbi segmenter over UTF-8 bytes. */
export class UnigramModel {
  readonly flavor: UnigramFlavor;
  readonly unkId: number;
  private readonly trie: ByteTrie;
  /** Per-id score used in the lattice (already the float32 value for the spm flavour). */
  private readonly scores: Float64Array;
  /** Per-id flags: 1 = user-defined (spm bonus), 2 = unused (skipped). */
  private readonly flags: Uint8Array;
  /** max_score_ of the C++ (user-defined bonus); unused by the HF flavour. */
  private readonly maxScore: number;
  private readonly unkScore: number;
  // Scratch arrays, grown on demand (encoding is synchronous, so sharing them is safe).
  private bestScore = new Float64Array(64);
  private bestStart = new Int32Array(64);
  private bestId = new Int32Array(64);
  private seg: Segmentation = { count: 0, starts: new Int32Array(64), ends: new Int32Array(64), ids: new Int32Array(64) };

  constructor(options: UnigramOptions) {
    const { pieces, unkId, flavor } = options;
    this.flavor = flavor;
    this.unkId = unkId;
    const spm = flavor === 'sentencepiece';
    const n = pieces.length;
    this.scores = new Float64Array(n);
    this.flags = new Uint8Array(n);
    const keys: Uint8Array[] = [];
    const keyIds: number[] = [];
    let minScore = spm ? FLT_MAX : Infinity;
    let maxScore = spm ? FLT_MIN : -Infinity;
    for (let id = 0; id < n; id++) {
      const p = pieces[id];
      const score = spm ? Math.fround(p.score) : p.score;
      this.scores[id] = score;
      if (spm) {
        if (p.type === PieceType.NORMAL) {
          minScore = Math.min(minScore, score);
          maxScore = Math.max(maxScore, score);
        }
        // Only these kinds are matchable in SentencePiece; the others live in a reserved map.
        if (p.type !== PieceType.NORMAL && p.type !== PieceType.USER_DEFINED && p.type !== PieceType.UNUSED) continue;
        if (p.type === PieceType.USER_DEFINED) this.flags[id] = 1;
        if (p.type === PieceType.UNUSED) this.flags[id] = 2;
      } else {
        minScore = Math.min(minScore, score);
      }
      keys.push(UTF8.encode(p.piece));
      keyIds.push(id);
    }
    this.trie = new ByteTrie(keys, keyIds);
    this.maxScore = maxScore;
    this.unkScore = spm ? Math.fround(minScore - UNK_PENALTY) : minScore - UNK_PENALTY;
  }

  private grow(n: number): void {
    if (this.bestScore.length >= n) return;
    let cap = this.bestScore.length * 2;
    while (cap < n) cap *= 2;
    this.bestScore = new Float64Array(cap);
    this.bestStart = new Int32Array(cap);
    this.bestId = new Int32Array(cap);
    this.seg = { count: 0, starts: new Int32Array(cap), ends: new Int32Array(cap), ids: new Int32Array(cap) };
  }

  /**
   * Best segmentation of the normalised UTF-8 bytes[0, len). Unknown characters come out as
   * one segment each with id `unkId`; merging runs is left to the caller, whose rules differ.
   */
  encode(bytes: Uint8Array, len: number): Segmentation {
    this.grow(len + 1);
    const bestScore = this.bestScore;
    const bestStart = this.bestStart;
    const bestId = this.bestId;
    bestStart.fill(-1, 0, len + 1);
    // Unreached positions read as score 0, as with the C++'s value-initialised nodes.
    bestScore.fill(0, 0, len + 1);
    const trie = this.trie;
    const scores = this.scores;
    const flags = this.flags;
    const spm = this.flavor === 'sentencepiece';
    const unkScore = this.unkScore;

    let startsAt = 0;
    while (startsAt < len) {
      const base = bestScore[startsAt];
      const mblen = Math.min(utf8CharLen(bytes[startsAt]), len - startsAt);
      let hasSingleNode = false;
      let node = 0;
      let keyPos = startsAt;
      while (keyPos < len) {
        node = trie.child(node, bytes[keyPos]);
        if (node < 0) break;
        keyPos++;
        const id = trie.value(node);
        if (id < 0) continue;
        const length = keyPos - startsAt;
        let candidate: number;
        if (spm) {
          const f = flags[id];
          if (f === 2) continue; // UNUSED pieces are never emitted
          if (f === 1) {
            // C++: (size_t * float) - 0.1 is a double, added to the float path score in double.
            candidate = Math.fround(Math.fround(length) * this.maxScore) - 0.1 + base;
          } else {
            candidate = Math.fround(scores[id] + base);
          }
        } else {
          candidate = scores[id] + base;
        }
        if (bestStart[keyPos] === -1 || candidate > bestScore[keyPos]) {
          // The C++ stores the path score as float.
          bestScore[keyPos] = spm ? Math.fround(candidate) : candidate;
          bestStart[keyPos] = startsAt;
          bestId[keyPos] = id;
        }
        if (length === mblen) hasSingleNode = true;
      }
      if (!hasSingleNode) {
        const end = startsAt + mblen;
        const candidate = spm ? Math.fround(unkScore + base) : unkScore + base;
        if (bestStart[end] === -1 || candidate > bestScore[end]) {
          bestScore[end] = candidate;
          bestStart[end] = startsAt;
          bestId[end] = this.unkId;
        }
      }
      startsAt += mblen;
    }

    // Backtrack from the end, then reverse into text order.
    const seg = this.seg;
    let count = 0;
    for (let end = len; end > 0; end = bestStart[end]) {
      seg.starts[count] = bestStart[end];
      seg.ends[count] = end;
      seg.ids[count] = bestId[end];
      count++;
    }
    for (let i = 0, j = count - 1; i < j; i++, j--) {
      swap(seg.starts, i, j);
      swap(seg.ends, i, j);
      swap(seg.ids, i, j);
    }
    seg.count = count;
    return seg;
  }
}

/** Bytewise lexicographic order (a prefix sorts first). */
function compareBytes(x: Uint8Array, y: Uint8Array): number {
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

function swap(a: Int32Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}
