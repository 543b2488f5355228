/**
 * Streaming reader for training data files.
 *
 *   detectFormat(path)               -> { container, schema, gzip }
 *   readTrainingExamples(path, opts) -> AsyncGenerator<TrainingExample>   (one record at a time)
 *   readTrainingFile(path, opts)     -> { examples, skipped, errors, format }
 *
 * Containers: a top-level JSON array (`[...]`), JSON Lines (one JSON object per line) or CSV
 * (header row first; used by NuNER). gzip-compressed files are recognized by their magic bytes.
 * Nothing reads the file whole: bytes are decoded in 1 MiB chunks and cut into records by the
 * splitters in stream-split.ts, so memory holds one chunk plus the record being parsed.
 *
 * Schemas (see formats.ts): `gliner` (`tokenized_text` + `ner`), `pilener` (`conversations`)
 * and `nuner` (`input` + `output`). The schema is detected from the first record that parses and
 * then applied to every record.
 *
 * Errors: a bad record raises a `TrainingDataError` naming the file, the position (line for
 * JSONL; element index and its line for arrays; row and line for CSV) and the key inside the
 * record. With `skipBad: true` such records are skipped and counted instead. Errors in the
 * container itself (not a JSON array, an unterminated element, invalid UTF-8) are always fatal.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { ConvertOptions, DataSchema, RecordProblem, TrainingExample, classifyRecord, convertRecord } from './formats';
import { CsvSplitter, JsonArraySplitter, JsonlSplitter, StreamSyntaxError } from './stream-split';

export type DataContainer = 'json-array' | 'jsonl' | 'csv';

export interface DataFormat {
  container: DataContainer;
  schema: DataSchema;
  /** The file is gzip-compressed. */
  gzip: boolean;
}

export interface ReadOptions extends ConvertOptions {
  /**
   * Treat routine problems of real data as errors. By default NuNER rows with an empty `output`
   * (about 2% of the published dataset, dropped by upstream's script too) are skipped and counted
   * in `ReadResult.routineSkips`; with `strict` they fail like any bad record.
   */
  strict?: boolean;
  /** Called for every routine skip (without `strict`). */
  onRoutineSkip?: (error: TrainingDataError) => void;
  /** Skip records that fail to parse or validate (they are counted) instead of throwing. */
  skipBad?: boolean;
  /** Called for every skipped record (only with `skipBad`). */
  onSkip?: (error: TrainingDataError) => void;
  /** Use this schema / container instead of detecting them. */
  schema?: DataSchema;
  container?: DataContainer;
  /** Stop after this many examples. */
  limit?: number;
  /**
   * Leave out examples without any gold span (not counted as skipped). Upstream's NuNER script
   * loses those records as a side effect (`zip(*[])` raises and the record is dropped); its
   * GLiNER and Pile-NER paths keep them. Default false.
   */
  dropEmpty?: boolean;
  /** Called for every example left out by `dropEmpty`. */
  onDropEmpty?: () => void;
  /** Longest record accepted, in characters (default DEFAULT_MAX_RECORD_CHARS, 32 Mi). */
  maxRecordChars?: number;
}

export interface ReadResult {
  examples: TrainingExample[];
  /** Number of records skipped with `skipBad`. */
  skipped: number;
  /** The first skipped records' errors (at most 20), for reporting. */
  errors: TrainingDataError[];
  /** Number of examples left out by `dropEmpty`. */
  droppedEmpty: number;
  /** Rows skipped for routine problems (without `strict`): reason -> count and first location. */
  routineSkips: Record<string, { count: number; first: TrainingDataError }>;
  format: DataFormat;
}

/** "21 rows skipped: 21 with an empty output (first: FILE row 17 (line 18))", or '' when none. */
export function describeRoutineSkips(skips: ReadResult['routineSkips']): string {
  const entries = Object.entries(skips);
  const total = entries.reduce((a, [, v]) => a + v.count, 0);
  if (total === 0) return '';
  const why: Record<string, string> = { 'empty-output': 'with an empty output' };
  const parts = entries.map(([k, v]) => `${v.count} ${why[k] ?? k} (first: ${v.first.message})`);
  return `${total} row${total === 1 ? '' : 's'} skipped: ${parts.join('; ')}`;
}

/** Where in a file a problem was found. */
export interface RecordLocation {
  /** Absent for problems found before the container is known (e.g. invalid UTF-8). */
  container?: DataContainer;
  /** 0-based record index (array element, JSONL record, CSV data row). */
  index?: number;
  /** 1-based line. */
  line?: number;
}

/** A problem in a training file, with its location. `key` is '' when it concerns a whole record. */
export class TrainingDataError extends Error {
  constructor(
    readonly file: string,
    readonly location: RecordLocation,
    readonly key: string,
    readonly problem: string,
  ) {
    super(`${file}${formatLocation(location)}: ${key ? `${key}: ` : ''}${problem}`);
    this.name = 'TrainingDataError';
  }
  /** Set on routine problems skipped without `strict`. */
  routine?: string;
}

function formatLocation(loc: RecordLocation): string {
  const { container, index, line } = loc;
  if (index === undefined) return line === undefined ? '' : ` line ${line}`;
  switch (container) {
    case 'jsonl':
      return ` line ${line}`;
    case 'json-array':
      return ` element ${index}${line === undefined ? '' : ` (line ${line})`}`;
    case 'csv':
      return ` row ${index}${line === undefined ? '' : ` (line ${line})`}`;
    default:
      return ` record ${index}`;
  }
}

const CHUNK_BYTES = 1 << 20;
const MAX_REPORTED_ERRORS = 20;

async function isGzip(file: string): Promise<boolean> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/** Decoded text of `file` in chunks. Invalid UTF-8 is an error; a leading BOM is dropped. */
async function* textChunks(file: string, gzip: boolean): AsyncGenerator<string> {
  const raw = fs.createReadStream(file, { highWaterMark: CHUNK_BYTES });
  let stream: NodeJS.ReadableStream = raw;
  if (gzip) {
    const gunzip = zlib.createGunzip({ chunkSize: CHUNK_BYTES });
    raw.on('error', (e) => gunzip.destroy(e)); // pipe() does not forward read errors
    stream = raw.pipe(gunzip);
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let offset = 0;
  try {
    for await (const chunk of namedReadErrors(stream, file, gzip)) {
      const bytes = chunk as Buffer;
      let text: string;
      try {
        text = decoder.decode(bytes, { stream: true });
      } catch {
        throw new TrainingDataError(file, {}, '', `invalid UTF-8 in bytes ${offset}..${offset + bytes.length}${gzip ? ' (after decompression)' : ''}`);
      }
      offset += bytes.length;
      if (text.length > 0) yield text;
    }
    let tail: string;
    try {
      tail = decoder.decode();
    } catch {
      throw new TrainingDataError(file, {}, '', 'the file ends inside a UTF-8 character');
    }
    if (tail.length > 0) yield tail;
  } finally {
    // Stops reading when the consumer breaks out early (e.g. format detection).
    raw.destroy();
  }
}

/** The stream's chunks; a read or gzip failure (truncated, corrupt) becomes an error naming the file. */
async function* namedReadErrors(stream: NodeJS.ReadableStream, file: string, gzip: boolean): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (e) {
    if (e instanceof TrainingDataError) throw e;
    const err = e as NodeJS.ErrnoException;
    const isZlib = gzip && (err.code?.startsWith('Z_') || /unexpected end of file|incorrect header|invalid/i.test(err.message));
    const problem = isZlib ? `not a valid gzip file, or truncated (${err.message})` : `cannot read the file (${err.message})`;
    const out = new TrainingDataError(file, {}, '', problem);
    (out as { cause?: unknown }).cause = e;
    throw out;
  }
}

/** A record as parsed from the container, before schema conversion. */
interface ParsedRecord {
  location: RecordLocation;
  /** The parsed value, or the error that prevented parsing it. */
  value?: unknown;
  error?: RecordProblem;
}

/** Guess the container from the file name and its first non-space character. */
async function detectContainer(file: string, gzip: boolean): Promise<DataContainer> {
  const name = file.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.csv')) return 'csv';
  for await (const chunk of textChunks(file, gzip)) {
    const m = /\S/.exec(chunk);
    if (m === null) continue;
    if (m[0] === '[') return 'json-array';
    if (m[0] === '{') return 'jsonl';
    throw new TrainingDataError(file, { line: 1 }, '', `cannot tell the format: expected a JSON array ('[') or JSON Lines ('{'), found ${JSON.stringify(chunk.slice(m.index, m.index + 20))}`);
  }
  // An empty file: treat as JSON Lines with no records.
  return 'jsonl';
}

function parseJson(text: string): { value?: unknown; error?: RecordProblem } {
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { error: new RecordProblem('', `invalid JSON: ${(e as Error).message}`) };
  }
}

/**
 * Longest record (JSONL line, array element, CSV row) read, in characters, by default: a
 * hostile file (or a small .gz that inflates to one giant line) fails at this bound, naming the
 * file, instead of exhausting memory. Real records are far smaller (Pile-NER's largest: ~50 KB).
 */
export const DEFAULT_MAX_RECORD_CHARS = 32 * 1024 * 1024;

/** Counts characters read since the last complete record; throws past the bound. */
class RecordBudget {
  private since = 0;
  private lastLine = 0;
  constructor(
    private readonly file: string,
    private readonly container: DataContainer,
    private readonly max: number,
    private readonly gzip: boolean,
  ) {}

  /** `chars` read, of which `inRecords` belonged to the records completed, the last on `line`. */
  read(chars: number, inRecords: number, line: number | undefined): void {
    if (line === undefined) this.since += chars;
    else {
      // what is left is the start of the next record (plus separators), never more than this chunk
      this.since = Math.min(chars, Math.max(0, this.since + chars - inRecords));
      this.lastLine = Math.max(this.lastLine, line);
    }
    if (this.since > this.max) this.fail(this.lastLine + 1);
  }

  /** A complete record of `chars` characters on `line`. */
  record(chars: number, line: number): void {
    if (chars > this.max) this.fail(line);
  }

  private fail(line: number): never {
    throw new TrainingDataError(
      this.file,
      { container: this.container, line },
      '',
      `a record longer than ${this.max} characters${this.gzip ? ' (after decompression)' : ''} starts here (maxRecordChars); is this really a ${this.container} file?`,
    );
  }
}

/** Records of a file as parsed JSON values (CSV rows become objects keyed by the header). */
async function* parsedRecords(file: string, container: DataContainer, gzip: boolean, maxRecordChars = DEFAULT_MAX_RECORD_CHARS): AsyncGenerator<ParsedRecord> {
  const budget = new RecordBudget(file, container, maxRecordChars, gzip);
  try {
    if (container === 'csv') {
      const splitter = new CsvSplitter();
      let header: string[] | null = null;
      const toRecord = (row: { index: number; line: number; fields: string[] }): ParsedRecord | null => {
        if (header === null) {
          header = row.fields;
          return null;
        }
        const location: RecordLocation = { container, index: row.index - 1, line: row.line };
        if (row.fields.length !== header.length) {
          return { location, error: new RecordProblem('', `row has ${row.fields.length} fields but the header has ${header.length}`) };
        }
        const value: Record<string, string> = {};
        header.forEach((h, j) => (value[h] = row.fields[j]));
        return { location, value };
      };
      for await (const chunk of textChunks(file, gzip)) {
        const rows = splitter.push(chunk);
        for (const row of rows) {
          budget.record(row.fields.reduce((m, f) => m + f.length + 1, 0), row.line);
          const r = toRecord(row);
          if (r) yield r;
        }
        budget.read(chunk.length, rows.reduce((n, r) => n + r.fields.reduce((m, f) => m + f.length + 1, 0), 0), rows[rows.length - 1]?.line);
      }
      for (const row of splitter.end()) {
        const r = toRecord(row);
        if (r) yield r;
      }
      return;
    }
    const splitter = container === 'jsonl' ? new JsonlSplitter() : new JsonArraySplitter();
    for await (const chunk of textChunks(file, gzip)) {
      const raws = splitter.push(chunk);
      for (const raw of raws) {
        budget.record(raw.text.length, raw.line);
        yield { location: { container, index: raw.index, line: raw.line }, ...parseJson(raw.text) };
      }
      budget.read(chunk.length, raws.reduce((n, r) => n + r.text.length + 1, 0), raws[raws.length - 1]?.line);
    }
    for (const raw of splitter.end()) {
      yield { location: { container, index: raw.index, line: raw.line }, ...parseJson(raw.text) };
    }
  } catch (e) {
    if (e instanceof StreamSyntaxError) {
      throw new TrainingDataError(file, { container, line: e.line }, '', e.problem);
    }
    throw e;
  }
}

/** How many leading records detection may look at to find one that parses. */
const DETECT_RECORDS = 100;

/**
 * Detect container and schema. The schema comes from the first record that parses as JSON
 * (an empty file or array counts as GLiNER format). CSV files must have `input` and `output`
 * columns (NuNER).
 */
export async function detectFormat(file: string): Promise<DataFormat> {
  const gzip = await isGzip(file);
  const container = await detectContainer(file, gzip);
  if (container === 'csv') {
    // Only the header row is needed; stop reading as soon as it is complete.
    const splitter = new CsvSplitter();
    let header: string[] | undefined;
    try {
      let read = 0;
      for await (const chunk of textChunks(file, gzip)) {
        header = splitter.push(chunk)[0]?.fields;
        if (header !== undefined) break;
        if ((read += chunk.length) > DEFAULT_MAX_RECORD_CHARS) throw new StreamSyntaxError(1, `the CSV header row is longer than ${DEFAULT_MAX_RECORD_CHARS} characters`);
      }
      header ??= splitter.end()[0]?.fields;
    } catch (e) {
      if (e instanceof StreamSyntaxError) throw new TrainingDataError(file, { container, line: e.line }, '', e.problem);
      throw e;
    }
    if (header === undefined) throw new TrainingDataError(file, { container }, '', 'the CSV file is empty');
    if (header.includes('input') && header.includes('output')) return { container, schema: 'nuner', gzip };
    throw new TrainingDataError(file, { container, line: 1 }, '', `CSV header ${JSON.stringify(header)} lacks the NuNER columns "input" and "output"`);
  }
  let seen = 0;
  for await (const rec of parsedRecords(file, container, gzip)) {
    if (rec.error === undefined) {
      const schema = classifyRecord(rec.value);
      if (schema !== null) return { container, schema, gzip };
      throw new TrainingDataError(
        file,
        rec.location,
        '',
        'cannot tell the schema: expected "tokenized_text" (GLiNER), "conversations" (Pile-NER) or "input"/"output" (NuNER)',
      );
    }
    if (++seen >= DETECT_RECORDS) break;
  }
  if (seen > 0) throw new TrainingDataError(file, { container }, '', `none of the first ${seen} records is valid JSON`);
  return { container, schema: 'gliner', gzip };
}

/** Stream the examples of a training file, converted to `TrainingExample`. */
export async function* readTrainingExamples(file: string, options: ReadOptions = {}): AsyncGenerator<TrainingExample> {
  const format = await resolveFormat(file, options);
  let produced = 0;
  if (options.limit !== undefined && options.limit <= 0) return;
  for await (const rec of parsedRecords(file, format.container, format.gzip, options.maxRecordChars)) {
    let problem = rec.error;
    let example: TrainingExample | undefined;
    if (problem === undefined) {
      try {
        example = convertRecord(format.schema, rec.value, options);
      } catch (e) {
        if (!(e instanceof RecordProblem)) throw e;
        problem = e;
      }
    }
    if (problem !== undefined || example === undefined) {
      const err = new TrainingDataError(file, rec.location, problem?.key ?? '', problem?.problem ?? 'unreadable record');
      if (problem?.routine && !options.strict) {
        err.routine = problem.routine;
        options.onRoutineSkip?.(err);
        continue;
      }
      if (!options.skipBad) throw problem?.routine ? new TrainingDataError(file, rec.location, problem.key, `${problem.problem} (--strict: such rows are errors)`) : err;
      options.onSkip?.(err);
      continue;
    }
    if (options.dropEmpty && example.spans.length === 0) {
      options.onDropEmpty?.();
      continue;
    }
    yield example;
    if (options.limit !== undefined && ++produced >= options.limit) return;
  }
}

async function resolveFormat(file: string, options: ReadOptions): Promise<DataFormat> {
  if (options.schema !== undefined && options.container !== undefined) {
    return { schema: options.schema, container: options.container, gzip: await isGzip(file) };
  }
  const detected = await detectFormat(file);
  return { ...detected, schema: options.schema ?? detected.schema, container: options.container ?? detected.container };
}

/** Read a whole training file into memory (the examples, not the file text). */
export async function readTrainingFile(file: string, options: ReadOptions = {}): Promise<ReadResult> {
  const format = await resolveFormat(file, options);
  const examples: TrainingExample[] = [];
  const errors: TrainingDataError[] = [];
  let skipped = 0;
  let droppedEmpty = 0;
  const routineSkips: ReadResult['routineSkips'] = {};
  const opts: ReadOptions = {
    ...options,
    onRoutineSkip: (err) => {
      const k = err.routine ?? 'other';
      if (routineSkips[k]) routineSkips[k].count++;
      else routineSkips[k] = { count: 1, first: err };
      options.onRoutineSkip?.(err);
    },
    onDropEmpty: () => {
      droppedEmpty++;
      options.onDropEmpty?.();
    },
    schema: format.schema,
    container: format.container,
    onSkip: (err) => {
      skipped++;
      if (errors.length < MAX_REPORTED_ERRORS) errors.push(err);
      options.onSkip?.(err);
    },
  };
  for await (const ex of readTrainingExamples(file, opts)) examples.push(ex);
  return { examples, skipped, errors, droppedEmpty, routineSkips, format };
}
