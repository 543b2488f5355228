/**
 * A small, strict ZIP reader for archives held in memory (enough for `torch.save` files).
 *
 * Layout (APPNOTE.TXT): [local header + data]* | central directory | [ZIP64 EOCD + locator] | EOCD.
 * We trust only the central directory for sizes: torch's writer (miniz) sets the "data descriptor"
 * flag and leaves CRC and sizes zero in the local headers. Every offset and size is checked
 * against the buffer before use, so a corrupt or hostile archive gives an Error, never a
 * RangeError deep inside a typed array or an unbounded allocation.
 *
 * Supported: methods 0 (stored) and 8 (deflate), ZIP64 sizes/offsets, UTF-8 names.
 * Not supported (error): encryption, multi-disk archives, other compression methods.
 */
import * as zlib from 'zlib';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;

const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_MIN_SIZE = 56;
const CENTRAL_HEADER_SIZE = 46;
const LOCAL_HEADER_SIZE = 30;
const MAX_COMMENT = 0xffff;
/** Deflate cannot expand data by more than ~1032x; a larger claimed size is corrupt (or a bomb). */
const MAX_DEFLATE_RATIO = 1032;

/**
 * Default inflation budget for one archive: 16x its size plus 64 MiB. torch.save stores its
 * entries uncompressed, and deflated float weights shrink by a few percent, so only a bomb (a
 * 1 MB entry claiming 1 GB) comes near it. $GLINER_TF_MAX_INFLATED_BYTES overrides it.
 */
export function defaultInflateBudget(archiveBytes: number, env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.GLINER_TF_MAX_INFLATED_BYTES);
  if (Number.isFinite(n) && n > 0) return n;
  return 16 * archiveBytes + 64 * 1024 * 1024;
}

export interface ZipOptions {
  /** Most bytes `read` may inflate in all, over every deflated entry. Default `defaultInflateBudget`. */
  maxInflatedBytes?: number;
}

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Offset of the entry's local header. */
  localHeaderOffset: number;
  /** Offset of the entry's (compressed) data, resolved from the local header. */
  dataOffset: number;
}

/** True if the bytes start like a ZIP archive with at least one entry ("PK\x03\x04"). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

export class ZipArchive {
  /** Entries in central-directory order. */
  readonly entries: ReadonlyMap<string, ZipEntry>;
  private readonly view: DataView;
  /** Bytes `read` may still inflate (checked against each entry's declared size before inflating). */
  private inflateBudget: number;

  /**
   * Parse the archive's directory. Entry data is only inflated (and CRC-checked) by `read`.
   * `source` names the archive in error messages.
   */
  constructor(private readonly bytes: Uint8Array, readonly source = '<buffer>', options: ZipOptions = {}) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.inflateBudget = options.maxInflatedBytes ?? defaultInflateBudget(bytes.byteLength);
    this.entries = this.readCentralDirectory();
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * The uncompressed bytes of an entry. Stored entries are returned as a view into the
   * archive buffer (no copy); callers must not write to it.
   */
  read(name: string, { checkCrc = true }: { checkCrc?: boolean } = {}): Uint8Array {
    const e = this.entries.get(name);
    if (!e) this.fail(`has no entry ${quoteName(name)}`);
    const raw = this.bytes.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
    let out: Uint8Array;
    if (e.method === 0) {
      out = raw;
    } else {
      if (e.uncompressedSize > this.inflateBudget) {
        this.fail(
          `entry ${quoteName(name)} would inflate ${e.compressedSize} bytes to ${e.uncompressedSize}, past the ` +
            `${this.inflateBudget} bytes left of this archive's inflation budget (a decompression bomb?); ` +
            'set GLINER_TF_MAX_INFLATED_BYTES to allow more',
        );
      }
      this.inflateBudget -= e.uncompressedSize;
      try {
        out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.uncompressedSize) });
      } catch (err) {
        this.fail(`entry ${quoteName(name)}: deflate data is corrupt (${(err as Error).message})`);
      }
      if (out.byteLength !== e.uncompressedSize) {
        this.fail(`entry ${quoteName(name)}: inflated to ${out.byteLength} bytes, the directory says ${e.uncompressedSize}`);
      }
    }
    if (checkCrc) {
      const crc = crc32(out);
      if (crc !== e.crc32) {
        this.fail(`entry ${quoteName(name)}: CRC-32 mismatch (stored ${hex(e.crc32)}, computed ${hex(crc)})`);
      }
    }
    return out;
  }

  private fail(what: string): never {
    throw new Error(`${this.source}: invalid zip archive: ${what}`);
  }

  private u16(off: number): number {
    return this.view.getUint16(off, true);
  }

  private u32(off: number): number {
    return this.view.getUint32(off, true);
  }

  /** u64 as a number; anything past 2^53 cannot fit a JS buffer anyway. */
  private u64(off: number, what: string): number {
    const v = this.view.getBigUint64(off, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is too large`);
    return Number(v);
  }

  /** Throws unless [off, off+len) lies inside the buffer. */
  private need(off: number, len: number, what: string): void {
    if (off < 0 || len < 0 || off + len > this.bytes.byteLength) {
      this.fail(`${what} (bytes ${off}..${off + len}) runs past the end of the ${this.bytes.byteLength}-byte file`);
    }
  }

  /** Locate the End Of Central Directory record by scanning back over a possible comment. */
  private findEocd(): number {
    const len = this.bytes.byteLength;
    if (len < EOCD_SIZE) this.fail(`file is ${len} bytes, too short for a zip end-of-central-directory record`);
    const lowest = Math.max(0, len - EOCD_SIZE - MAX_COMMENT);
    for (let p = len - EOCD_SIZE; p >= lowest; p--) {
      // The comment length must reach exactly to the end for this to be the real record.
      if (this.u32(p) === SIG_EOCD && p + EOCD_SIZE + this.u16(p + 20) === len) return p;
    }
    this.fail('no end-of-central-directory record (file truncated or not a zip)');
  }

  private readCentralDirectory(): Map<string, ZipEntry> {
    const eocd = this.findEocd();
    let diskNo = this.u16(eocd + 4);
    let cdDisk = this.u16(eocd + 6);
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);

    // torch always writes a ZIP64 record; other writers only when a field overflows.
    const loc = eocd - ZIP64_LOCATOR_SIZE;
    if (loc >= 0 && this.u32(loc) === SIG_ZIP64_LOCATOR) {
      const z64 = this.u64(loc + 8, 'ZIP64 end-of-central-directory offset');
      this.need(z64, ZIP64_EOCD_MIN_SIZE, 'ZIP64 end-of-central-directory record');
      if (z64 + ZIP64_EOCD_MIN_SIZE > loc) this.fail('ZIP64 end-of-central-directory record overlaps its locator');
      if (this.u32(z64) !== SIG_ZIP64_EOCD) this.fail(`bad ZIP64 end-of-central-directory signature at offset ${z64}`);
      diskNo = this.u32(z64 + 16);
      cdDisk = this.u32(z64 + 20);
      count = this.u64(z64 + 32, 'ZIP64 entry count');
      cdSize = this.u64(z64 + 40, 'ZIP64 central directory size');
      cdOffset = this.u64(z64 + 48, 'ZIP64 central directory offset');
    } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      this.fail('end-of-central-directory needs a ZIP64 record, which is missing');
    }
    if (diskNo !== 0 || cdDisk !== 0) this.fail('multi-disk archives are not supported');
    this.need(cdOffset, cdSize, 'central directory');
    if (cdOffset + cdSize > eocd) this.fail('central directory overlaps the end-of-central-directory record');
    if (count > cdSize / CENTRAL_HEADER_SIZE) this.fail(`entry count ${count} cannot fit in a ${cdSize}-byte central directory`);

    const entries = new Map<string, ZipEntry>();
    const cdEnd = cdOffset + cdSize;
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (p + CENTRAL_HEADER_SIZE > cdEnd) this.fail(`central directory entry ${i} runs past the directory's end`);
      if (this.u32(p) !== SIG_CENTRAL) this.fail(`bad central directory signature for entry ${i} at offset ${p}`);
      const flags = this.u16(p + 8);
      const method = this.u16(p + 10);
      const crc = this.u32(p + 16);
      let compressedSize = this.u32(p + 20);
      let uncompressedSize = this.u32(p + 24);
      const nameLen = this.u16(p + 28);
      const extraLen = this.u16(p + 30);
      const commentLen = this.u16(p + 32);
      const disk = this.u16(p + 34);
      let localHeaderOffset = this.u32(p + 42);
      const next = p + CENTRAL_HEADER_SIZE + nameLen + extraLen + commentLen;
      if (next > cdEnd) this.fail(`central directory entry ${i} runs past the directory's end`);
      const name = decodeName(this.bytes.subarray(p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLen), (flags & 0x800) !== 0);
      const label = `entry ${quoteName(name)}`;

      // ZIP64 extended information: only the fields saturated in the fixed header are present, in this order.
      const extraStart = p + CENTRAL_HEADER_SIZE + nameLen;
      const z64 = this.findExtra(extraStart, extraLen, 0x0001, label);
      if (z64) {
        let q = z64.start;
        const take = (what: string): number => {
          if (q + 8 > z64.end) this.fail(`${label}: ZIP64 extra field is too short for the ${what}`);
          const v = this.u64(q, `${label}: ZIP64 ${what}`);
          q += 8;
          return v;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = take('uncompressed size');
        if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('local header offset');
      } else if (uncompressedSize === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
        this.fail(`${label}: sizes need a ZIP64 extra field, which is missing`);
      }

      if (flags & 0x1) this.fail(`${label} is encrypted`);
      if (disk !== 0 && disk !== 0xffff) this.fail(`${label} is on disk ${disk}; multi-disk archives are not supported`);
      if (method !== 0 && method !== 8) this.fail(`${label} uses compression method ${method} (only 0=stored and 8=deflate are supported)`);
      if (method === 0 && compressedSize !== uncompressedSize) {
        this.fail(`${label} is stored but its sizes differ (${compressedSize} vs ${uncompressedSize})`);
      }
      if (method === 8 && uncompressedSize > compressedSize * MAX_DEFLATE_RATIO + 1024) {
        this.fail(`${label} claims ${uncompressedSize} bytes from ${compressedSize} deflated bytes`);
      }
      if (entries.has(name)) this.fail(`duplicate ${label}`);

      // Resolve the data offset through the local header, whose extra field may differ from the central one.
      this.need(localHeaderOffset, LOCAL_HEADER_SIZE, `${label}: local header`);
      if (this.u32(localHeaderOffset) !== SIG_LOCAL) this.fail(`${label}: bad local header signature at offset ${localHeaderOffset}`);
      const localNameLen = this.u16(localHeaderOffset + 26);
      const localExtraLen = this.u16(localHeaderOffset + 28);
      const dataOffset = localHeaderOffset + LOCAL_HEADER_SIZE + localNameLen + localExtraLen;
      this.need(localHeaderOffset + LOCAL_HEADER_SIZE, localNameLen + localExtraLen, `${label}: local header name/extra`);
      const localName = this.bytes.subarray(localHeaderOffset + LOCAL_HEADER_SIZE, localHeaderOffset + LOCAL_HEADER_SIZE + localNameLen);
      if (!sameBytes(localName, this.bytes.subarray(p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLen))) {
        this.fail(`${label}: local header names a different file`);
      }
      this.need(dataOffset, compressedSize, `${label}: data`);
      if (dataOffset + compressedSize > cdOffset) this.fail(`${label}: data overlaps the central directory`);

      entries.set(name, { name, method, crc32: crc, compressedSize, uncompressedSize, localHeaderOffset, dataOffset });
      p = next;
    }
    return entries;
  }

  /** Find extra-field block `id` inside [start, start+len); returns its payload range. */
  private findExtra(start: number, len: number, id: number, label: string): { start: number; end: number } | null {
    const end = start + len;
    let q = start;
    while (q + 4 <= end) {
      const blockId = this.u16(q);
      const size = this.u16(q + 2);
      if (q + 4 + size > end) this.fail(`${label}: extra field block runs past its end`);
      if (blockId === id) return { start: q + 4, end: q + 4 + size };
      q += 4 + size;
    }
    return null;
  }
}

/** Parse a ZIP archive held in memory; `source` names it in errors. */
export function openZip(bytes: Uint8Array, source = '<buffer>', options: ZipOptions = {}): ZipArchive {
  return new ZipArchive(bytes, source, options);
}

function decodeName(raw: Uint8Array, utf8: boolean): string {
  // Names without the UTF-8 flag are nominally CP437; torch's are ASCII, so latin1 is close enough.
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString(utf8 ? 'utf8' : 'latin1');
}

/** A name fit for an error message: quoted, control characters escaped, long ones cut. */
function quoteName(name: string): string {
  const q = JSON.stringify(name);
  return q.length > 120 ? `${q.slice(0, 117)}..."` : q;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE), using zlib's native one where Node has it (>= 20.15 / 22.2). */
export function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
  if (typeof native === 'function') return native(data) >>> 0;
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.byteLength; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
