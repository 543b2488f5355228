/**
 * Incremental splitters that cut a text stream into records without ever holding the whole
 * file: JSON Lines (one record per line), a top-level JSON array (one record per element) and
 * CSV (one record per row, RFC 4180 quoting). Each splitter is fed string chunks with `push()`
 * and returns the records completed so far; `end()` flushes the last one and reports truncation.
 *
 * The JSON array splitter does not parse values: it only tracks strings, escapes and bracket
 * depth to find where each element ends, and hands the element's source text to the caller
 * (which runs JSON.parse on it). So memory is bounded by the largest single element, and a
 * syntax error inside one element stays confined to that element.
 *
 * Errors about the container itself (text outside the array, an unterminated element) are
 * thrown as `StreamSyntaxError` with the 1-based line where the problem was seen.
 */

/** One record's source text and where it starts. */
export interface RawRecord {
  /** 0-based index among the records of the file (blank JSONL lines are not counted). */
  index: number;
  /** 1-based line on which the record starts. */
  line: number;
  /** Source text of the record (a JSON value for JSONL and arrays). */
  text: string;
}

/** One CSV row split into fields. */
export interface CsvRow {
  index: number;
  line: number;
  fields: string[];
}

export class StreamSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly problem: string,
  ) {
    super(`line ${line}: ${problem}`);
    this.name = 'StreamSyntaxError';
  }
}

const NL = 10;
const CR = 13;

function isJsonSpace(c: number): boolean {
  return c === 32 || c === 9 || c === NL || c === CR;
}

/** JSON Lines: every non-blank line is one record. A trailing "\r" is dropped (CRLF files). */
export class JsonlSplitter {
  private pieces: string[] = []; // the current line's text from earlier chunks
  private lineNo = 1; // 1-based number of the line being read
  private count = 0;

  push(chunk: string): RawRecord[] {
    const out: RawRecord[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl < 0) break;
      let line = chunk.slice(start, nl);
      if (this.pieces.length > 0) {
        this.pieces.push(line);
        line = this.pieces.join('');
        this.pieces = [];
      }
      this.emit(line, out);
      start = nl + 1;
      this.lineNo++;
    }
    if (start < chunk.length) this.pieces.push(chunk.slice(start));
    return out;
  }

  end(): RawRecord[] {
    const out: RawRecord[] = [];
    if (this.pieces.length > 0) this.emit(this.pieces.join(''), out);
    this.pieces = [];
    return out;
  }

  private emit(line: string, out: RawRecord[]): void {
    if (line.length > 0 && line.charCodeAt(line.length - 1) === CR) line = line.slice(0, -1);
    if (line.trim().length === 0) return;
    out.push({ index: this.count++, line: this.lineNo, text: line });
  }
}

type ArrayPhase =
  | 'start' // before '['
  | 'first' // after '[': an element or ']'
  | 'next' // after ',': an element is required
  | 'element' // inside an element
  | 'after' // after an element: ',' or ']'
  | 'done'; // after the closing ']': only whitespace

/**
 * Top-level JSON array: `[ elem, elem, ... ]` with any JSON values as elements. Nested
 * arrays/objects and strings (with escapes) may span chunk boundaries.
 */
export class JsonArraySplitter {
  private phase: ArrayPhase = 'start';
  private line = 1;
  private count = 0;
  // State of the element being read.
  private pieces: string[] = [];
  private elemLine = 0;
  private depth = 0;
  private inString = false;
  private escape = false;
  private scalar = false; // a number / true / false / null element: ends at ',', ']' or space
  private readonly specials = /["\\]/g;
  private readonly structural = /["{}[\]\n]/g;

  push(chunk: string): RawRecord[] {
    const out: RawRecord[] = [];
    const n = chunk.length;
    let i = 0;
    let elemStart = this.phase === 'element' ? 0 : -1; // where the current element starts in `chunk`
    while (i < n) {
      if (this.phase === 'element') {
        if (this.inString) {
          if (this.escape) {
            // The escaped character (a quote, a backslash, 'u', ...) can never end the string.
            this.escape = false;
            i++;
            continue;
          }
          // Jump straight to the next quote or backslash: string bodies are most of the data.
          this.specials.lastIndex = i;
          const m = this.specials.exec(chunk);
          if (m === null) {
            i = n;
            break;
          }
          i = m.index + 1;
          if (m[0] === '\\') {
            this.escape = true;
          } else {
            this.inString = false;
            if (this.depth === 0) {
              // A bare string element ends with its closing quote.
              this.finishElement(chunk.slice(elemStart, i), out);
              elemStart = -1;
            }
          }
          continue;
        }
        const c = chunk.charCodeAt(i);
        if (this.scalar) {
          if (c === 44 /* , */ || c === 93 /* ] */ || isJsonSpace(c)) {
            this.finishElement(chunk.slice(elemStart, i), out);
            elemStart = -1;
            continue; // the delimiter is read again in the 'after' phase
          }
          i++;
          continue;
        }
        if (c === 34 /* " */) {
          this.inString = true;
        } else if (c === 123 /* { */ || c === 91 /* [ */) {
          this.depth++;
        } else if (c === 125 /* } */ || c === 93 /* ] */) {
          this.depth--;
          if (this.depth === 0) {
            i++;
            this.finishElement(chunk.slice(elemStart, i), out);
            elemStart = -1;
            continue;
          }
        } else if (c === NL) {
          this.line++;
        } else {
          // Numbers, commas, colons, spaces: skip ahead to the next character that matters.
          this.structural.lastIndex = i;
          const m = this.structural.exec(chunk);
          i = m === null ? n : m.index;
          continue;
        }
        i++;
        continue;
      }

      // Between elements: only whitespace and structural characters are allowed.
      const c = chunk.charCodeAt(i);
      if (isJsonSpace(c)) {
        if (c === NL) this.line++;
        i++;
        continue;
      }
      switch (this.phase) {
        case 'start':
          if (c !== 91 /* [ */) this.fail(`expected '[' to open the top-level array, found ${describe(chunk, i)}`);
          this.phase = 'first';
          i++;
          break;
        case 'after':
          if (c === 93 /* ] */) this.phase = 'done';
          else if (c === 44 /* , */) this.phase = 'next';
          else this.fail(`expected ',' or ']' after array element ${this.count - 1}, found ${describe(chunk, i)}`);
          i++;
          break;
        case 'first':
        case 'next':
          if (c === 93 /* ] */) {
            if (this.phase === 'next') this.fail(`trailing ',' after array element ${this.count - 1}`);
            this.phase = 'done';
            i++;
            break;
          }
          if (c === 125 /* } */ || c === 44 /* , */) {
            this.fail(`unexpected ${describe(chunk, i)} where array element ${this.count} should start`);
          }
          this.phase = 'element';
          this.elemLine = this.line;
          this.depth = 0;
          this.inString = false;
          this.escape = false;
          this.scalar = false;
          elemStart = i;
          if (c === 34) this.inString = true;
          else if (c === 123 || c === 91) this.depth = 1;
          else this.scalar = true;
          if (!this.scalar) i++;
          break;
        case 'done':
          this.fail(`unexpected ${describe(chunk, i)} after the end of the top-level array`);
      }
    }
    if (this.phase === 'element' && elemStart >= 0) this.pieces.push(chunk.slice(elemStart));
    return out;
  }

  end(): RawRecord[] {
    const out: RawRecord[] = [];
    if (this.phase === 'element' && this.scalar) this.finishElement('', out);
    if (this.phase === 'start') this.fail('the file is empty: expected a JSON array');
    if (this.phase !== 'done') {
      const where =
        this.phase === 'element' ? `inside array element ${this.count} (which starts on line ${this.elemLine})` : "before the closing ']'";
      this.fail(`unexpected end of file ${where}`);
    }
    return out;
  }

  private finishElement(tail: string, out: RawRecord[]): void {
    this.pieces.push(tail);
    const text = this.pieces.length === 1 ? this.pieces[0] : this.pieces.join('');
    this.pieces = [];
    out.push({ index: this.count++, line: this.elemLine, text });
    this.phase = 'after';
  }

  private fail(problem: string): never {
    throw new StreamSyntaxError(this.line, problem);
  }
}

function describe(chunk: string, i: number): string {
  return JSON.stringify(chunk.slice(i, i + 20));
}

/**
 * CSV rows (RFC 4180): fields separated by ',', rows by LF or CRLF; a field in double quotes may
 * contain commas, line breaks and doubled quotes (""). Blank lines are skipped. A CR outside
 * quotes is ignored (so CRLF works); old-Mac CR-only line ends are not supported.
 */
export class CsvSplitter {
  private field: string[] = []; // pieces of the current field
  private fields: string[] = [];
  private inQuotes = false;
  private closedQuote = false; // the current field was quoted and its closing quote was read
  private pendingQuote = false; // a '"' inside quotes was the last char of a chunk: "" or the close
  private rowStarted = false; // anything (even an empty quoted field or a comma) seen in this row
  private line = 1;
  private rowLine = 1;
  private count = 0;

  push(chunk: string): CsvRow[] {
    const out: CsvRow[] = [];
    const n = chunk.length;
    let i = 0;
    let segStart = 0; // start of the not-yet-saved part of the current field in `chunk`
    const save = (end: number): void => {
      if (end > segStart) this.field.push(chunk.slice(segStart, end));
    };
    while (i < n) {
      const c = chunk.charCodeAt(i);
      if (this.pendingQuote) {
        this.pendingQuote = false;
        if (c === 34) {
          this.field.push('"'); // "" inside quotes is one literal quote
          i++;
          segStart = i;
          continue;
        }
        this.inQuotes = false; // the quote closed the field
        this.closedQuote = true;
        segStart = i;
      }
      if (this.inQuotes) {
        if (c === 34) {
          save(i);
          this.pendingQuote = true;
          i++;
          segStart = i;
          continue;
        }
        if (c === NL) this.line++;
        i++;
        continue;
      }
      if (c === 44 /* , */ || c === NL || c === CR) {
        save(i);
        if (c === 44) {
          this.endField();
        } else if (c === NL) {
          this.endRow(out);
          this.line++;
          this.rowLine = this.line;
        }
        i++;
        segStart = i;
        continue;
      }
      if (this.closedQuote) {
        throw new StreamSyntaxError(this.line, `unexpected ${describe(chunk, i)} after a closing quote in CSV row ${this.count}`);
      }
      this.rowStarted = true;
      if (c === 34 /* " */ && this.field.length === 0 && segStart === i) {
        this.inQuotes = true;
        i++;
        segStart = i;
        continue;
      }
      i++;
    }
    save(n);
    return out;
  }

  end(): CsvRow[] {
    const out: CsvRow[] = [];
    if (this.pendingQuote) {
      this.pendingQuote = false;
      this.inQuotes = false;
      this.closedQuote = true;
    }
    if (this.inQuotes) throw new StreamSyntaxError(this.rowLine, `unterminated quoted field in CSV row ${this.count}`);
    this.endRow(out);
    return out;
  }

  private endField(): void {
    this.fields.push(this.field.length === 1 ? this.field[0] : this.field.join(''));
    this.field = [];
    this.closedQuote = false;
    this.rowStarted = true;
  }

  private endRow(out: CsvRow[]): void {
    if (this.rowStarted || this.field.length > 0) {
      this.endField();
      out.push({ index: this.count++, line: this.rowLine, fields: this.fields });
    }
    this.fields = [];
    this.field = [];
    this.closedQuote = false;
    this.rowStarted = false;
  }
}
