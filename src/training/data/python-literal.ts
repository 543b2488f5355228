/**
 * A parser for one small corner of Python literal syntax: a list of string literals, as produced
 * by `repr(list_of_str)` or `json.dumps(list_of_str)`. Upstream GLiNER reads the Pile-NER answers
 * (`'["Paris", "Rome"]'`) and the NuNER `output` column (`"['Paris <> city']"`) with
 * `ast.literal_eval`; this gives the same strings for those inputs without a Python runtime.
 *
 * Supported: single- and double-quoted strings (also triple-quoted), the prefixes u/U and r/R,
 * Python escapes (\\ \' \" \a \b \f \n \r \t \v, octal \ooo, \xhh, \uhhhh, \Uhhhhhhhh, backslash-
 * newline), unknown escapes kept verbatim (as Python does), implicit concatenation of adjacent
 * literals, a trailing comma, and whitespace anywhere between tokens.
 * Not supported (rejected with an error): \N{...} escapes, bytes/f-strings, non-string elements.
 */

export class LiteralSyntaxError extends Error {
  constructor(
    readonly position: number,
    readonly problem: string,
  ) {
    super(`${problem} at character ${position}`);
    this.name = 'LiteralSyntaxError';
  }
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/** Parse `src` as a Python/JSON list of strings. Throws LiteralSyntaxError on anything else. */
export function parseStringList(src: string): string[] {
  let i = 0;
  const n = src.length;
  const fail = (problem: string): never => {
    throw new LiteralSyntaxError(i, problem);
  };
  // Python's tokenizer skips spaces, tabs, form feeds and (inside brackets) newlines.
  const skipSpace = (): void => {
    while (i < n) {
      const c = src[i];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') i++;
      else if (c === '\\' && (src[i + 1] === '\n' || src[i + 1] === '\r')) i += 2;
      else break;
    }
  };

  const readString = (): string => {
    let raw = false;
    // Prefixes: u, r and their upper-case forms (ur is not valid Python 3).
    while (i < n && /[uUrR]/.test(src[i]) && (src[i + 1] === '"' || src[i + 1] === "'" || /[uUrR]/.test(src[i + 1] ?? ''))) {
      if (src[i] === 'r' || src[i] === 'R') raw = true;
      i++;
    }
    const q = src[i];
    if (q !== '"' && q !== "'") fail('expected a string literal');
    const triple = src.startsWith(q.repeat(3), i);
    const delim = triple ? q.repeat(3) : q;
    i += delim.length;
    let out = '';
    for (;;) {
      if (i >= n) fail('unterminated string literal');
      const c = src[i];
      if (src.startsWith(delim, i)) {
        i += delim.length;
        return out;
      }
      if (!triple && (c === '\n' || c === '\r')) fail('line break inside a single-quoted string');
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      // Backslash.
      const e = src[i + 1];
      if (e === undefined) fail('unterminated string literal');
      if (raw) {
        // In raw strings a backslash is kept and only stops the next quote from ending the string.
        out += c + e;
        i += 2;
        continue;
      }
      if (e in SIMPLE_ESCAPES) {
        out += SIMPLE_ESCAPES[e];
        i += 2;
      } else if (e === '\n') {
        i += 2; // line continuation
      } else if (e >= '0' && e <= '7') {
        let j = i + 1;
        let digits = '';
        while (j < n && digits.length < 3 && src[j] >= '0' && src[j] <= '7') digits += src[j++];
        out += String.fromCodePoint(parseInt(digits, 8));
        i = j;
      } else if (e === 'x' || e === 'u' || e === 'U') {
        const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = src.slice(i + 2, i + 2 + len);
        if (hex.length !== len || !/^[0-9a-fA-F]+$/.test(hex)) fail(`truncated \\${e} escape`);
        const cp = parseInt(hex, 16);
        if (cp > 0x10ffff) fail(`\\${e}${hex} is not a valid code point`);
        out += String.fromCodePoint(cp);
        i += 2 + len;
      } else if (e === 'N') {
        fail('\\N{...} escapes are not supported');
      } else {
        out += c + e; // unknown escape: Python keeps the backslash
        i += 2;
      }
    }
  };

  skipSpace();
  if (src[i] !== '[') fail("expected '['");
  i++;
  const items: string[] = [];
  skipSpace();
  if (src[i] === ']') {
    i++;
  } else {
    for (;;) {
      skipSpace();
      const c = src[i];
      if (c !== '"' && c !== "'" && !/[uUrR]/.test(c ?? '')) {
        fail(`list element ${items.length} is not a string literal`);
      }
      let value = readString();
      // Adjacent literals concatenate: 'a' "b" == 'ab'.
      for (;;) {
        skipSpace();
        const d = src[i];
        if (d === '"' || d === "'" || (/[uUrR]/.test(d ?? '') && /["'uUrR]/.test(src[i + 1] ?? ''))) value += readString();
        else break;
      }
      items.push(value);
      if (src[i] === ',') {
        i++;
        skipSpace();
        if (src[i] === ']') {
          i++;
          break;
        }
        continue;
      }
      if (src[i] === ']') {
        i++;
        break;
      }
      fail("expected ',' or ']'");
    }
  }
  skipSpace();
  if (i !== n) fail('unexpected text after the closing bracket');
  return items;
}
