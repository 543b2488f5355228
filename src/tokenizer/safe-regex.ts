/**
 * A linear-time regular-expression engine for patterns that come from model files
 * (tokenizer.json `Replace` normalizers, `Split` pre-tokenizers). A downloaded model is untrusted
 * input: with a backtracking engine (JS RegExp) `(a+)+$` takes seconds on 28 letters and never
 * ends on 40. Here patterns are compiled to a Thompson NFA and run as a Pike VM (the RE2
 * approach): time O(text length x program size) whatever the pattern, with the match that a
 * backtracking engine would pick (leftmost, then first alternative / greedy-or-lazy priority).
 *
 * Supported: literals and escapes (\n \t \uXXXX \u{...} \xHH ...), `.`, classes `[...]` with
 * ranges and negation, \d \w \s (and negations), \p{...} / \P{...}, groups `(...)` `(?:...)`
 * `(?<name>...)`, the inline case-insensitive group `(?i:...)`, alternation, greedy and lazy
 * `* + ? {n} {n,} {n,m}`, anchors `^ $ \b \B`, and lookaheads `(?=X)` / `(?!X)` whose body is one
 * character or class (the byte-level split regex of GPT-2 / ModernBERT uses `\s+(?!\S)`).
 * Refused with an error: backreferences, lookbehind, longer lookaheads, and programs over
 * MAX_PROGRAM instructions (counted repetition is expanded). Semantics are those of JS RegExp
 * with the `u` flag (code points, `.` excludes line terminators, no multiline).
 */

/** Most NFA instructions a pattern may compile to (bounds the per-character work). */
export const MAX_PROGRAM = 20_000;
const MAX_GROUP_DEPTH = 100;

type Pred = (cp: number) => boolean;

type Node =
  | { t: 'char'; pred: Pred }
  | { t: 'seq'; items: Node[] }
  | { t: 'alt'; options: Node[] }
  | { t: 'repeat'; body: Node; min: number; max: number; lazy: boolean }
  | { t: 'assert'; kind: '^' | '$' | 'b' | 'B' }
  | { t: 'look'; pred: Pred; negate: boolean };

type Inst =
  | { op: 'char'; pred: Pred }
  | { op: 'split'; x: number; y: number }
  | { op: 'jmp'; x: number }
  | { op: 'assert'; kind: '^' | '$' | 'b' | 'B' }
  | { op: 'look'; pred: Pred; negate: boolean }
  | { op: 'match' };

export class UnsafeRegexError extends Error {
  readonly code = 'UnsupportedRegex';
}

const isWordCp = (cp: number): boolean =>
  (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) || cp === 0x5f;
const isDigit = (cp: number): boolean => cp >= 0x30 && cp <= 0x39;
const SPACE_RE = /^\s$/u;
const isSpace = (cp: number): boolean => SPACE_RE.test(String.fromCodePoint(cp));
const isLineTerminator = (cp: number): boolean => cp === 0x0a || cp === 0x0d || cp === 0x2028 || cp === 0x2029;

function propertyPred(name: string, negate: boolean, where: () => string): Pred {
  let re: RegExp;
  try {
    re = new RegExp(`^\\p{${name}}$`, 'u');
  } catch {
    throw new UnsafeRegexError(`unknown Unicode property \\p{${name}} ${where()}`);
  }
  return (cp) => re.test(String.fromCodePoint(cp)) !== negate;
}

function caseless(pred: Pred): Pred {
  return (cp) => {
    if (pred(cp)) return true;
    const s = String.fromCodePoint(cp);
    const lo = s.toLowerCase();
    const up = s.toUpperCase();
    return (lo.length <= 2 && pred(lo.codePointAt(0)!) && [...lo].length === 1) || (up.length <= 2 && [...up].length === 1 && pred(up.codePointAt(0)!));
  };
}

/** Recursive-descent parser over the pattern's code points. */
class Parser {
  private readonly cps: number[];
  private pos = 0;
  private depth = 0;

  constructor(private readonly src: string) {
    this.cps = [...src].map((c) => c.codePointAt(0)!);
  }

  private where(): string {
    return `at position ${this.pos} of ${JSON.stringify(this.src)}`;
  }

  private fail(what: string): never {
    throw new UnsafeRegexError(`${what} ${this.where()}`);
  }

  private peek(k = 0): number {
    return this.pos + k < this.cps.length ? this.cps[this.pos + k] : -1;
  }

  private eat(cp: number): boolean {
    if (this.peek() === cp) {
      this.pos++;
      return true;
    }
    return false;
  }

  parse(): Node {
    const n = this.alternation(false);
    if (this.pos < this.cps.length) this.fail(`unexpected ${String.fromCodePoint(this.peek())}`);
    return n;
  }

  private alternation(ci: boolean): Node {
    const options = [this.sequence(ci)];
    while (this.eat(0x7c)) options.push(this.sequence(ci));
    return options.length === 1 ? options[0] : { t: 'alt', options };
  }

  private sequence(ci: boolean): Node {
    const items: Node[] = [];
    while (this.pos < this.cps.length && this.peek() !== 0x7c && this.peek() !== 0x29) {
      const atom = this.atom(ci);
      items.push(this.quantified(atom));
    }
    return { t: 'seq', items };
  }

  private quantified(atom: Node): Node {
    let min: number;
    let max: number;
    const c = this.peek();
    if (c === 0x2a) [min, max] = [0, Infinity];
    else if (c === 0x2b) [min, max] = [1, Infinity];
    else if (c === 0x3f) [min, max] = [0, 1];
    else if (c === 0x7b && this.isCountedQuantifier()) {
      this.pos++;
      min = this.integer();
      max = min;
      if (this.eat(0x2c)) max = this.peek() === 0x7d ? Infinity : this.integer();
      if (!this.eat(0x7d)) this.fail('unterminated {n,m} quantifier');
      if (max < min) this.fail(`quantifier {${min},${max}} is out of order`);
      this.pos--; // the common `pos++` below consumes the closing brace
    } else return atom;
    this.pos++;
    if (atom.t === 'assert' || atom.t === 'look') this.fail('quantified assertion');
    const lazy = this.eat(0x3f);
    if (this.peek() === 0x2a || this.peek() === 0x2b || (this.peek() === 0x3f && !lazy)) this.fail('nothing to repeat');
    return { t: 'repeat', body: atom, min, max, lazy };
  }

  private isCountedQuantifier(): boolean {
    let k = 1;
    let digits = 0;
    while (isDigit(this.peek(k))) {
      k++;
      digits++;
    }
    return digits > 0 && (this.peek(k) === 0x7d || this.peek(k) === 0x2c);
  }

  private integer(): number {
    let s = '';
    while (isDigit(this.peek())) s += String.fromCodePoint(this.cps[this.pos++]);
    if (!s) this.fail('expected a number');
    const n = Number(s);
    if (n > MAX_PROGRAM) this.fail(`repetition count ${n} is too large`);
    return n;
  }

  private atom(ci: boolean): Node {
    const c = this.cps[this.pos++];
    const wrap = (pred: Pred): Node => ({ t: 'char', pred: ci ? caseless(pred) : pred });
    switch (c) {
      case 0x2e: return { t: 'char', pred: (cp) => !isLineTerminator(cp) }; // .
      case 0x5e: return { t: 'assert', kind: '^' };
      case 0x24: return { t: 'assert', kind: '$' };
      case 0x5b: return wrap(this.charClass());
      case 0x28: return this.group(ci);
      case 0x5c: {
        const e = this.peek();
        if (e === 0x62 || e === 0x42) {
          this.pos++;
          return { t: 'assert', kind: e === 0x62 ? 'b' : 'B' };
        }
        const e2 = this.escape(false);
        return wrap(typeof e2 === 'number' ? (cp) => cp === e2 : e2);
      }
      case 0x2a: case 0x2b: case 0x3f: this.pos--; this.fail('nothing to repeat');
      // eslint-disable-next-line no-fallthrough
      case 0x29: this.pos--; this.fail('unmatched )');
      // eslint-disable-next-line no-fallthrough
      default: {
        if (c === 0x7b || c === 0x7d || c === 0x5d) { this.pos--; this.fail(`lone ${String.fromCodePoint(c)} (escape it)`); }
        return wrap((cp) => cp === c);
      }
    }
  }

  private group(ci: boolean): Node {
    if (++this.depth > MAX_GROUP_DEPTH) this.fail(`groups nested deeper than ${MAX_GROUP_DEPTH}`);
    let inner: Node;
    if (this.eat(0x3f)) {
      if (this.pos >= this.cps.length) this.fail('unterminated group (?');
      const k = this.cps[this.pos++];
      if (k === 0x3a) inner = this.alternation(ci); // (?:
      else if (k === 0x3d || k === 0x21) { // (?= (?!
        const body = this.alternation(ci);
        const pred = body.t === 'char' ? body.pred : body.t === 'seq' && body.items.length === 1 && body.items[0].t === 'char' ? body.items[0].pred : null;
        if (!pred) this.fail('lookahead longer than one character or class is not supported');
        inner = { t: 'look', pred, negate: k === 0x21 };
      } else if (k === 0x3c && this.peek() !== 0x3d && this.peek() !== 0x21) { // (?<name>
        while (this.pos < this.cps.length && this.peek() !== 0x3e) this.pos++;
        if (!this.eat(0x3e)) this.fail('unterminated group name');
        inner = this.alternation(ci);
      } else if (k === 0x69 && this.eat(0x3a)) { // (?i:
        inner = this.alternation(true);
      } else if (k === 0x3c) {
        this.fail('lookbehind is not supported');
      } else {
        this.fail(`unsupported group (?${String.fromCodePoint(k)}`);
      }
    } else {
      inner = this.alternation(ci);
    }
    if (!this.eat(0x29)) this.fail('missing )');
    this.depth--;
    return inner;
  }

  /** An escape after `\`: a code point for literal escapes, a predicate for \d \s \p{...}. */
  private escape(inClass: boolean): number | Pred {
    const e = this.cps[this.pos++];
    if (e === undefined) this.fail('trailing backslash');
    switch (e) {
      case 0x64: return isDigit; // d
      case 0x44: return (cp) => !isDigit(cp);
      case 0x77: return isWordCp; // w
      case 0x57: return (cp) => !isWordCp(cp);
      case 0x73: return isSpace; // s
      case 0x53: return (cp) => !isSpace(cp);
      case 0x6e: return 0x0a;
      case 0x72: return 0x0d;
      case 0x74: return 0x09;
      case 0x66: return 0x0c;
      case 0x76: return 0x0b;
      case 0x30: if (isDigit(this.peek())) this.fail('octal escapes are not supported'); return 0;
      case 0x62: if (inClass) return 0x08; break;
      case 0x70: case 0x50: { // p{..} P{..}
        if (!this.eat(0x7b)) this.fail('\\p needs {name}');
        let name = '';
        while (this.pos < this.cps.length && this.peek() !== 0x7d) name += String.fromCodePoint(this.cps[this.pos++]);
        if (!this.eat(0x7d)) this.fail('unterminated \\p{');
        return propertyPred(name, e === 0x50, () => this.where());
      }
      case 0x75: { // uXXXX or u{...}
        if (this.eat(0x7b)) {
          let hex = '';
          while (this.pos < this.cps.length && this.peek() !== 0x7d) hex += String.fromCodePoint(this.cps[this.pos++]);
          if (!this.eat(0x7d) || !/^[0-9a-fA-F]{1,6}$/.test(hex)) this.fail('bad \\u{...} escape');
          return parseInt(hex, 16);
        }
        return this.hex(4);
      }
      case 0x78: return this.hex(2); // xHH
      default:
        if (isDigit(e) || e === 0x6b) this.fail('backreferences are not supported');
    }
    // Identity escapes of syntax characters (\. \\ \( \- ...).
    if (/[\^$\\.*+?()[\]{}|/\-]/.test(String.fromCodePoint(e))) return e;
    this.pos--;
    this.fail(`unsupported escape \\${String.fromCodePoint(e)}`);
  }

  private hex(n: number): number {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCodePoint(this.cps[this.pos++] ?? 0);
    if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(s)) this.fail('bad hex escape');
    return parseInt(s, 16);
  }

  private charClass(): Pred {
    const negate = this.eat(0x5e);
    const parts: Pred[] = [];
    while (this.peek() !== 0x5d) {
      if (this.pos >= this.cps.length) this.fail('unterminated [');
      const lo = this.classAtom();
      if (this.peek() === 0x2d && this.peek(1) !== 0x5d && this.peek(1) !== -1) {
        this.pos++;
        const hi = this.classAtom();
        if (typeof lo !== 'number' || typeof hi !== 'number') this.fail('class range with a class escape');
        if (hi < lo) this.fail('class range out of order');
        parts.push((cp) => cp >= lo && cp <= hi);
      } else {
        parts.push(typeof lo === 'number' ? (cp) => cp === lo : lo);
      }
    }
    this.pos++; // ]
    return (cp) => parts.some((p) => p(cp)) !== negate;
  }

  /** One class member: a code point, or a predicate for \d \s \p{...}. */
  private classAtom(): number | Pred {
    const c = this.cps[this.pos++];
    return c === 0x5c ? this.escape(true) : c;
  }
}

/** Thompson construction; counted repetition is expanded, capped at MAX_PROGRAM instructions. */
class Compiler {
  readonly prog: Inst[] = [];

  private emit(i: Inst): number {
    if (this.prog.length >= MAX_PROGRAM) throw new UnsafeRegexError(`pattern compiles to more than ${MAX_PROGRAM} instructions`);
    this.prog.push(i);
    return this.prog.length - 1;
  }

  compile(n: Node): void {
    switch (n.t) {
      case 'char': this.emit({ op: 'char', pred: n.pred }); break;
      case 'assert': this.emit({ op: 'assert', kind: n.kind }); break;
      case 'look': this.emit({ op: 'look', pred: n.pred, negate: n.negate }); break;
      case 'seq': for (const item of n.items) this.compile(item); break;
      case 'alt': {
        const jumps: number[] = [];
        for (let i = 0; i < n.options.length; i++) {
          if (i < n.options.length - 1) {
            const split = this.emit({ op: 'split', x: 0, y: 0 });
            (this.prog[split] as { x: number }).x = split + 1;
            this.compile(n.options[i]);
            jumps.push(this.emit({ op: 'jmp', x: 0 }));
            (this.prog[split] as { y: number }).y = this.prog.length;
          } else {
            this.compile(n.options[i]);
          }
        }
        for (const j of jumps) (this.prog[j] as { x: number }).x = this.prog.length;
        break;
      }
      case 'repeat': {
        for (let i = 0; i < n.min; i++) this.compile(n.body);
        if (n.max === Infinity) {
          const split = this.emit({ op: 'split', x: 0, y: 0 });
          this.compile(n.body);
          this.emit({ op: 'jmp', x: split });
          this.setSplit(split, split + 1, this.prog.length, n.lazy);
        } else {
          const splits: number[] = [];
          for (let i = n.min; i < n.max; i++) {
            splits.push(this.emit({ op: 'split', x: 0, y: 0 }));
            this.compile(n.body);
          }
          for (const s of splits) this.setSplit(s, s + 1, this.prog.length, n.lazy);
        }
        break;
      }
    }
  }

  private setSplit(at: number, body: number, out: number, lazy: boolean): void {
    this.prog[at] = lazy ? { op: 'split', x: out, y: body } : { op: 'split', x: body, y: out };
  }
}

/** A compiled pattern from a model file; matching is linear in the text length. */
export class SafeRegex {
  private readonly prog: Inst[];
  /** Per-instruction generation marks, so each instruction joins a thread list once per step. */
  private readonly mark: Uint32Array;
  private gen = 0;

  constructor(readonly source: string) {
    const compiler = new Compiler();
    compiler.compile(new Parser(source).parse());
    compiler.prog.push({ op: 'match' });
    this.prog = compiler.prog;
    this.mark = new Uint32Array(this.prog.length);
  }

  /** Every non-overlapping match as [start, end) UTF-16 offsets, in the order JS's global flag finds them. */
  matches(s: string): [number, number][] {
    const out: [number, number][] = [];
    let from = 0;
    while (from <= s.length) {
      const m = this.exec(s, from);
      if (!m) break;
      out.push(m);
      // After an empty match, move on by one code point (JS `u` semantics).
      from = m[1] > m[0] ? m[1] : m[1] + (m[1] < s.length && (s.codePointAt(m[1]) ?? 0) > 0xffff ? 2 : 1);
    }
    return out;
  }

  /** `s` with every match replaced by the literal `content` ($ has no special meaning). */
  replaceAll(s: string, content: string): string {
    let out = '';
    let last = 0;
    for (const [a, b] of this.matches(s)) {
      out += s.slice(last, a) + content;
      last = b;
    }
    return out + s.slice(last);
  }

  /** The leftmost-first match starting at or after `from`, or null. */
  exec(s: string, from: number): [number, number] | null {
    const n = s.length;
    let clist: number[] = []; // flattened (pc, start) pairs
    let nlist: number[] = [];
    let matched: [number, number] | null = null;
    let i = from;
    this.nextGen();
    this.add(clist, 0, from, s, i);
    for (;;) {
      const cp = i < n ? s.codePointAt(i)! : -1;
      const w = cp > 0xffff ? 2 : 1;
      this.nextGen();
      nlist.length = 0;
      for (let k = 0; k < clist.length; k += 2) {
        const pc = clist[k];
        const inst = this.prog[pc];
        if (inst.op === 'match') {
          matched = [clist[k + 1], i];
          break; // lower-priority threads are cut
        }
        if (inst.op === 'char' && cp >= 0 && inst.pred(cp)) this.add(nlist, pc + 1, clist[k + 1], s, i + w);
      }
      if (i >= n) break;
      i += w;
      if (matched === null) this.add(nlist, 0, i, s, i); // a new start, lowest priority
      if (nlist.length === 0 && matched !== null) break;
      [clist, nlist] = [nlist, clist];
    }
    return matched;
  }

  private nextGen(): void {
    if (++this.gen === 0xffffffff) {
      this.mark.fill(0);
      this.gen = 1;
    }
  }

  /** Follow jumps, splits and assertions from `pc` at position `pos`, in priority order. */
  private add(list: number[], pc0: number, start: number, s: string, pos: number): void {
    const stack = [pc0];
    while (stack.length) {
      const pc = stack.pop()!;
      if (this.mark[pc] === this.gen) continue;
      this.mark[pc] = this.gen;
      const inst = this.prog[pc];
      switch (inst.op) {
        case 'jmp': stack.push(inst.x); break;
        case 'split': stack.push(inst.y, inst.x); break; // x is tried first
        case 'assert':
          if (holds(inst.kind, s, pos)) stack.push(pc + 1);
          break;
        case 'look': {
          const next = pos < s.length ? s.codePointAt(pos)! : -1;
          if ((next >= 0 && inst.pred(next)) !== inst.negate) stack.push(pc + 1);
          break;
        }
        default: list.push(pc, start);
      }
    }
  }
}

function holds(kind: '^' | '$' | 'b' | 'B', s: string, pos: number): boolean {
  if (kind === '^') return pos === 0;
  if (kind === '$') return pos === s.length;
  const before = pos > 0 && isWordCp(s.charCodeAt(pos - 1));
  const after = pos < s.length && isWordCp(s.charCodeAt(pos));
  return (before !== after) === (kind === 'b');
}

/**
 * Compile a pattern from a model file; `where` names the file and key in errors (a pattern we
 * cannot run safely is refused, never handed to a backtracking engine).
 */
export function compileModelRegex(pattern: string, where: string): SafeRegex {
  try {
    return new SafeRegex(pattern);
  } catch (e) {
    if (e instanceof UnsafeRegexError) throw new UnsafeRegexError(`${where}: regular expression ${JSON.stringify(pattern)} is not supported: ${e.message}`);
    throw e;
  }
}
