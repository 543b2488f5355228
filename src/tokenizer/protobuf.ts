/**
 * A minimal reader for the protobuf wire format, enough to decode SentencePiece's
 * `ModelProto` without a protobuf runtime or generated code.
 *
 * Every read is bounds-checked; failures throw a `ProtobufError` whose message names the
 * source (usually a file path) and the byte offset, so a corrupt model file is reported
 * clearly instead of surfacing as an out-of-range read or a garbage value.
 */

/** Wire types of the protobuf encoding. 3/4 (groups) are deprecated but still skippable. */
export enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
}

export class ProtobufError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtobufError';
  }
}

/** Nesting limit for groups and sub-messages: far above anything real, low enough to stop stack abuse. */
const MAX_DEPTH = 64;

/** A field key as read off the wire. */
export interface FieldKey {
  field: number;
  wireType: number;
}

/** Sequential reader over a byte range of one message. */
export class ProtoReader {
  private pos: number;
  private readonly view: DataView;

  /**
   * @param bytes  the whole buffer
   * @param source name used in error messages (e.g. the file path)
   * @param start  first byte of this message
   * @param end    one past the last byte of this message
   * @param depth  nesting depth, for the recursion limit
   */
  constructor(
    readonly bytes: Uint8Array,
    readonly source: string,
    readonly start = 0,
    readonly end = bytes.length,
    readonly depth = 0,
  ) {
    if (start < 0 || end > bytes.length || start > end) {
      throw new ProtobufError(`${source}: message range [${start}, ${end}) is outside the ${bytes.length}-byte buffer`);
    }
    if (depth > MAX_DEPTH) this.fail(`messages nested deeper than ${MAX_DEPTH}`);
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Current read position (absolute offset in `bytes`). */
  get offset(): number {
    return this.pos;
  }

  /** True while bytes of this message remain. */
  hasMore(): boolean {
    return this.pos < this.end;
  }

  fail(what: string, at = this.pos): never {
    throw new ProtobufError(`${this.source}: ${what} (at byte ${at})`);
  }

  /** Reads a field key; field numbers must be >= 1 and wire types known. */
  readKey(): FieldKey {
    const at = this.pos;
    const key = this.readVarint32Unsigned();
    const field = key >>> 3;
    const wireType = key & 7;
    if (field === 0) this.fail('field number 0 is invalid', at);
    if (wireType > 5) this.fail(`unknown wire type ${wireType} for field ${field}`, at);
    return { field, wireType };
  }

  /**
   * Reads a varint of up to 10 bytes and returns [low 32 bits, high 32 bits], both unsigned.
   * Working on two 32-bit halves keeps int64 values exact without BigInt.
   */
  private readVarint64Parts(): [number, number] {
    const at = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint', at);
      const b = this.bytes[this.pos++];
      const bits = b & 0x7f;
      if (i < 4) {
        lo |= bits << (7 * i);
      } else if (i === 4) {
        // Bits 28..34: the low 4 go to `lo`, the next 3 to `hi`.
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else {
        hi |= bits << (7 * i - 32);
      }
      if ((b & 0x80) === 0) return [lo >>> 0, hi >>> 0];
    }
    return this.fail('varint longer than 10 bytes', at);
  }

  /** Varint read as an unsigned 32-bit value (upper bits must be zero). */
  readVarint32Unsigned(): number {
    const at = this.pos;
    const [lo, hi] = this.readVarint64Parts();
    if (hi !== 0) this.fail('varint does not fit in 32 bits', at);
    return lo;
  }

  /** `int32`: negative values are sign-extended to 10 bytes on the wire; keep the low 32 bits. */
  readInt32(): number {
    const [lo] = this.readVarint64Parts();
    return lo | 0;
  }

  /** `uint64`/`int64` as a JS number; exact up to 2^53, which covers every count we read. */
  readUint64(): number {
    const [lo, hi] = this.readVarint64Parts();
    return hi * 0x100000000 + lo;
  }

  readBool(): boolean {
    const [lo, hi] = this.readVarint64Parts();
    return lo !== 0 || hi !== 0;
  }

  /** `float` (fixed32, little-endian IEEE single). */
  readFloat(): number {
    if (this.pos + 4 > this.end) this.fail('truncated fixed32');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** Bytes of a length-delimited field, as a view into the buffer (no copy). */
  readBytes(): Uint8Array {
    const at = this.pos;
    const len = this.readVarint32Unsigned();
    if (len > this.end - this.pos) this.fail(`length ${len} runs past the end of the message`, at);
    const out = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** A `string` field: must be valid UTF-8 (protobuf requires it for proto3; we require it always). */
  readString(): string {
    const at = this.pos;
    const raw = this.readBytes();
    try {
      return UTF8_STRICT.decode(raw);
    } catch {
      return this.fail('string field is not valid UTF-8', at);
    }
  }

  /** A reader for an embedded message (length-delimited field). */
  readMessage(): ProtoReader {
    const at = this.pos;
    const len = this.readVarint32Unsigned();
    if (len > this.end - this.pos) this.fail(`sub-message length ${len} runs past the end of the message`, at);
    const sub = new ProtoReader(this.bytes, this.source, this.pos, this.pos + len, this.depth + 1);
    this.pos += len;
    return sub;
  }

  /** Skips a field's value given its wire type (unknown fields, extensions). */
  skip(key: FieldKey): void {
    switch (key.wireType) {
      case WireType.Varint:
        this.readVarint64Parts();
        return;
      case WireType.Fixed64:
        this.advance(8, 'fixed64');
        return;
      case WireType.LengthDelimited:
        this.readBytes();
        return;
      case WireType.Fixed32:
        this.advance(4, 'fixed32');
        return;
      case WireType.StartGroup:
        this.skipGroup(key.field, 0);
        return;
      case WireType.EndGroup:
        return this.fail(`unexpected end-group for field ${key.field}`);
      default:
        return this.fail(`unknown wire type ${key.wireType}`);
    }
  }

  /** Checks that a field has the wire type its schema declares. */
  expectWireType(key: FieldKey, wireType: WireType, name: string): void {
    if (key.wireType !== wireType) {
      this.fail(`field ${name} (#${key.field}) has wire type ${key.wireType}, expected ${wireType}`);
    }
  }

  private advance(n: number, what: string): void {
    if (this.pos + n > this.end) this.fail(`truncated ${what}`);
    this.pos += n;
  }

  private skipGroup(field: number, depth: number): void {
    if (this.depth + depth > MAX_DEPTH) this.fail(`groups nested deeper than ${MAX_DEPTH}`);
    for (;;) {
      if (!this.hasMore()) this.fail(`unterminated group for field ${field}`);
      const key = this.readKey();
      if (key.wireType === WireType.EndGroup) {
        if (key.field !== field) this.fail(`end-group for field ${key.field} closes group ${field}`);
        return;
      }
      if (key.wireType === WireType.StartGroup) this.skipGroup(key.field, depth + 1);
      else this.skip(key);
    }
  }
}

const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
