/**
 * Lines of a user's file (or standard input) with bounded memory: bytes are cut at line ends as
 * they arrive, a line longer than `maxLineBytes` is an error naming FILE:LINE before it is held
 * whole, and gzip input is inflated as a stream (so a small .gz that expands to one huge line
 * fails at the bound instead of filling the heap). Line ends are "\n", "\r\n" and a lone "\r",
 * as Node's readline treats them. Invalid UTF-8 becomes U+FFFD, as readline does.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';

export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

export class InputLineError extends Error {
  constructor(
    readonly code: 'LINE_TOO_LONG' | 'BAD_GZIP' | 'READ_FAILED',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'InputLineError';
  }
}

export interface LineReadOptions {
  /** Name for messages (the path, or "<stdin>"). */
  name: string;
  /** Longest line accepted, in bytes (after decompression). Default 16 MiB. */
  maxLineBytes?: number;
  /** Inflate gzip: true, false, or 'auto' (by the first two bytes, the default). */
  gzip?: boolean | 'auto';
}

export interface Line {
  text: string;
  /** 1-based. */
  lineNo: number;
}

/** True when the file starts with the gzip magic bytes. */
export function startsWithGzipMagic(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(2);
    return fs.readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

/** Lines of `file` ('-' is standard input). */
export function readFileLines(file: string, options: Partial<LineReadOptions> = {}): AsyncGenerator<Line> {
  const name = options.name ?? (file === '-' ? '<stdin>' : file);
  if (file === '-') return readLines(process.stdin, { ...options, name, gzip: options.gzip === true });
  if (!fs.existsSync(file)) throw new Error(`${file}: no such file`);
  const gzip = options.gzip === undefined || options.gzip === 'auto' ? startsWithGzipMagic(file) : options.gzip;
  return readLines(fs.createReadStream(file, { highWaterMark: 1 << 20 }), { ...options, name, gzip });
}

/** Lines of a byte stream. */
export async function* readLines(input: NodeJS.ReadableStream, options: LineReadOptions): AsyncGenerator<Line> {
  const max = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const { name } = options;
  let stream: NodeJS.ReadableStream = input;
  let gunzip: zlib.Gunzip | null = null;
  if (options.gzip === true) {
    gunzip = zlib.createGunzip({ chunkSize: 1 << 20 });
    input.on('error', (e) => gunzip!.destroy(e));
    stream = input.pipe(gunzip);
  }
  const decoder = new TextDecoder('utf-8');
  let parts: Buffer[] = [];
  let held = 0;
  let lineNo = 0;
  let afterCR = false;
  const take = (): Line => {
    const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts, held);
    parts = [];
    held = 0;
    return { text: decoder.decode(buf), lineNo: ++lineNo };
  };
  const tooLong = () =>
    new InputLineError('LINE_TOO_LONG', `${name}:${lineNo + 1}: line longer than ${max} bytes${gunzip ? ' (after decompression)' : ''}; split the text, or raise the limit (--max-line-bytes)`);
  try {
    for await (const chunk of stream) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
      let start = 0;
      for (let i = 0; i < bytes.length; i++) {
        const c = bytes[i];
        if (c !== 10 && c !== 13) continue;
        if (c === 10 && afterCR && i === start && held === 0) {
          // the "\n" of a "\r\n" split across chunks
          afterCR = false;
          start = i + 1;
          continue;
        }
        if (held + i - start > max) throw tooLong();
        if (i > start) {
          parts.push(bytes.subarray(start, i));
          held += i - start;
        }
        yield take();
        afterCR = c === 13;
        if (c === 13 && i + 1 < bytes.length && bytes[i + 1] === 10) {
          i++;
          afterCR = false;
        }
        start = i + 1;
      }
      if (start < bytes.length) {
        afterCR = false;
        if (held + bytes.length - start > max) throw tooLong();
        // copy: the stream may reuse its buffer
        parts.push(Buffer.from(bytes.subarray(start)));
        held += bytes.length - start;
      }
    }
  } catch (e) {
    if (e instanceof InputLineError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (gunzip && (err.code?.startsWith('Z_') || /unexpected end of file|incorrect header check|invalid/i.test(err.message))) {
      throw new InputLineError('BAD_GZIP', `${name}: not a valid gzip file, or truncated (${err.message})`, { cause: e });
    }
    throw new InputLineError('READ_FAILED', `${name}: cannot read (${err.message})`, { cause: e });
  } finally {
    // Stop reading when the consumer stops early (standard input is left alone).
    if (input !== process.stdin) (input as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  }
  if (held > 0) yield take();
}
