/**
 * Reader and writer for the safetensors format:
 *   u64 little-endian header length N | N bytes of JSON header | raw tensor bytes.
 * The header maps names to {dtype, shape, data_offsets:[begin, end]} (offsets relative to
 * the end of the header) plus an optional "__metadata__" string map.
 *
 * We write this ourselves rather than use the npm `safetensors` package: that one (0.0.1) is
 * browser-only and read-only, and we need strict validation and a writer for checkpoints.
 */
import { HostTensor, StoredDtype, TensorMap, halfToFloat, isFloatDtype, numElements } from './host-tensor';

const DTYPE_BYTES: Record<StoredDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** Largest header we accept; real headers are well below 1 MiB even for 1000+ tensors. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SafetensorsFile {
  tensors: TensorMap;
  metadata: Record<string, string>;
}

function fail(source: string, what: string): never {
  throw new Error(`${source}: invalid safetensors file: ${what}`);
}

/** Parse a whole safetensors file held in memory. `source` names it in errors. */
export function readSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsFile {
  if (bytes.byteLength < 8) fail(source, `file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES) fail(source, `header length ${headerLen} exceeds ${MAX_HEADER_BYTES} bytes`);
  if (8 + headerLen > bytes.byteLength) {
    fail(source, `header length ${headerLen} runs past the end of the file (${bytes.byteLength} bytes)`);
  }
  let header: unknown;
  let headerText: string;
  try {
    headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
    header = JSON.parse(headerText);
  } catch (e) {
    fail(source, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(source, 'header is not a JSON object');
  // JSON.parse keeps the last of two equal keys: a second tensor of the same name would silently win.
  const dup = duplicateTopLevelKey(headerText);
  if (dup !== undefined) fail(source, `tensor name ${JSON.stringify(dup)} appears twice in the header`);
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;

  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: StoredDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null) fail(source, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(source, `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info !== 'object' || info === null) fail(source, `entry '${name}' is not an object`);
    const dtype = info.dtype as StoredDtype;
    if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(DTYPE_BYTES, dtype)) fail(source, `tensor '${name}' has unsupported dtype ${JSON.stringify(info.dtype)}`);
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(source, `tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    }
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(source, `tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin || end > dataLen) fail(source, `tensor '${name}' data_offsets [${begin}, ${end}] fall outside the ${dataLen} data bytes`);
    const expected = numElements(shape as number[]) * DTYPE_BYTES[dtype];
    if (end - begin !== expected) {
      fail(source, `tensor '${name}' (${dtype} ${JSON.stringify(shape)}) needs ${expected} bytes but data_offsets give ${end - begin}`);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // Tensors must not overlap (a hostile file could alias one tensor's bytes as another's).
  const sorted = [...entries].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) fail(source, `tensors '${sorted[i - 1].name}' and '${sorted[i].name}' overlap`);
  }

  const tensors: TensorMap = new Map();
  for (const e of entries) {
    const raw = new DataView(bytes.buffer, bytes.byteOffset + dataStart + e.begin, e.end - e.begin);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decode(raw, e.dtype, numElements(e.shape), `${source}: tensor '${e.name}'`) });
  }
  return { tensors, metadata };
}

/**
 * The first key that occurs twice at the top level of a JSON object text (already known to be
 * valid JSON), or undefined. One linear pass: tracks nesting and strings, decodes only keys.
 */
export function duplicateTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: find its end, skipping escapes.
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      expectKey = depth === 1 && c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2c && depth === 1) {
      expectKey = true;
    }
  }
  return undefined;
}

/** Decode little-endian raw bytes of a stored dtype into the host array for it. */
export function decode(raw: DataView, dtype: StoredDtype, n: number, what: string): Float32Array | Int32Array | Uint8Array {
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = raw.getFloat32(i * 4, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = raw.getFloat64(i * 8, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(raw.getUint16(i * 2, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(n);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u32[i] = raw.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = raw.getBigInt64(i * 8, true);
        if (v > 2147483647n || v < -2147483648n) throw new Error(`${what}: int64 value ${v} at index ${i} does not fit in int32`);
        out[i] = Number(v);
      }
      return out;
    }
    case 'I32': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = raw.getInt32(i * 4, true);
      return out;
    }
    case 'I16': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = raw.getInt16(i * 2, true);
      return out;
    }
    case 'I8': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = raw.getInt8(i);
      return out;
    }
    case 'U8': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = raw.getUint8(i);
      return out;
    }
    case 'BOOL': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = raw.getUint8(i) ? 1 : 0;
      return out;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writer

/** True on little-endian hosts (all the ones Node runs on in practice): F32/I32 are then plain byte copies. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Integer range of each integer dtype when written from an Int32Array. */
const INT_RANGES: Partial<Record<StoredDtype, [number, number]>> = {
  I32: [-2147483648, 2147483647], I16: [-32768, 32767], I8: [-128, 127], U8: [0, 255],
};

const SCRATCH_F32 = new Float32Array(1);
const SCRATCH_U32 = new Uint32Array(SCRATCH_F32.buffer);

/** float32 -> bfloat16 bits, round to nearest even (as torch does); NaN stays a quiet NaN. */
export function floatToBf16(value: number): number {
  SCRATCH_F32[0] = value;
  return bf16FromBits(SCRATCH_U32[0]);
}

function bf16FromBits(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) & 0x8000) | 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * float32 bits -> IEEE half bits, round to nearest even. Same results as `floatToHalf` in
 * host-tensor.ts, but working on the bits avoids allocating per element (writing a large
 * checkpoint would otherwise take minutes).
 */
function halfFromBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf, NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // too large: inf
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa, with its implicit 1, into place.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && h & 1)) h++;
    return sign | h;
  }
  // A carry out of the mantissa correctly bumps the exponent (up to inf).
  let h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return h;
}

/** Order names by UTF-8 bytes (= code points), as Python's sorted() and Rust's BTreeMap do. */
function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Serialize tensors in the standard safetensors layout: tensors sorted by name and packed back to
 * back in that order, `__metadata__` (if any, keys sorted) first in the compact JSON header, and
 * the header padded with spaces so that the data starts at a multiple of 8 bytes. This reproduces
 * the reference fixtures byte for byte. (The Rust `safetensors` writer orders data by dtype
 * first, so mixed-dtype files can differ in layout from its output; both read the same.)
 * Tensors are not padded individually, so with mixed dtypes a tensor may start unaligned;
 * `readSafetensors` does not care.
 *
 * Each tensor is written in its own `dtype`, from the host array that `readSafetensors` gives
 * for it: F32/F64/F16/BF16 from Float32Array (F16/BF16 rounded to nearest even), integer dtypes
 * from Int32Array (values must fit the dtype), BOOL from Uint8Array (nonzero = true).
 */
export function writeSafetensors(tensors: TensorMap | Iterable<[string, HostTensor]>, metadata?: Record<string, string>): Uint8Array {
  const entries: [string, HostTensor][] = [];
  const seen = new Set<string>();
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new Error(`writeSafetensors: '__metadata__' cannot be a tensor name`);
    if (seen.has(name)) throw new Error(`writeSafetensors: duplicate tensor name '${name}'`);
    seen.add(name);
    checkWritable(name, t);
    entries.push([name, t]);
  }
  entries.sort((a, b) => compareNames(a[0], b[0]));

  // Build the JSON by hand so that the key order is exactly the one described above.
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    const keys = Object.keys(metadata).sort(compareNames);
    for (const k of keys) {
      if (typeof metadata[k] !== 'string') throw new Error(`writeSafetensors: metadata '${k}' is not a string`);
    }
    parts.push(`"__metadata__":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',')}}`);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const [name, t] of entries) {
    const size = numElements(t.shape) * DTYPE_BYTES[t.dtype];
    offsets.push(offset);
    parts.push(`${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${offset + size}]}`);
    offset += size;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const headerLen = json.byteLength + ((8 - ((8 + json.byteLength) % 8)) % 8);

  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLen); // pad with spaces, as the reference does
  const dataStart = 8 + headerLen;
  entries.forEach(([, t], i) => encode(t, out, view, dataStart + offsets[i]));
  return out;
}

function checkWritable(name: string, t: HostTensor): void {
  const what = `writeSafetensors: tensor '${name}'`;
  if (!(t.dtype in DTYPE_BYTES)) throw new Error(`${what} has unsupported dtype ${JSON.stringify(t.dtype)}`);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${what} has an invalid shape ${JSON.stringify(t.shape)}`);
  }
  const n = numElements(t.shape);
  if (t.data.length !== n) throw new Error(`${what} has shape ${JSON.stringify(t.shape)} (${n} elements) but ${t.data.length} values`);
  const want = isFloatDtype(t.dtype) ? Float32Array : t.dtype === 'BOOL' ? Uint8Array : Int32Array;
  if (!(t.data instanceof want)) throw new Error(`${what} (${t.dtype}) must hold a ${want.name}, got ${t.data.constructor.name}`);
  const range = INT_RANGES[t.dtype];
  if (range) {
    for (let i = 0; i < n; i++) {
      const v = t.data[i];
      if (v < range[0] || v > range[1]) throw new Error(`${what}: value ${v} at index ${i} does not fit in ${t.dtype}`);
    }
  }
}

/** Write one validated tensor's data, little-endian, at byte `at` of `out`. */
function encode(t: HostTensor, out: Uint8Array, view: DataView, at: number): void {
  const d = t.data;
  const n = d.length;
  // Float32Array offsets are always 4-aligned, so the float bits can be viewed in place.
  const bits = (): Uint32Array => new Uint32Array(d.buffer, d.byteOffset, n);
  switch (t.dtype) {
    case 'F32':
    case 'I32':
      if (HOST_LITTLE_ENDIAN) {
        out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at); // bit-exact, NaN payloads included
      } else if (t.dtype === 'F32') {
        for (let i = 0; i < n; i++) view.setFloat32(at + 4 * i, d[i], true);
      } else {
        for (let i = 0; i < n; i++) view.setInt32(at + 4 * i, d[i], true);
      }
      return;
    case 'F64':
      for (let i = 0; i < n; i++) view.setFloat64(at + 8 * i, d[i], true);
      return;
    case 'F16': {
      const b = bits();
      for (let i = 0; i < n; i++) view.setUint16(at + 2 * i, halfFromBits(b[i]), true);
      return;
    }
    case 'BF16': {
      const b = bits();
      for (let i = 0; i < n; i++) view.setUint16(at + 2 * i, bf16FromBits(b[i]), true);
      return;
    }
    case 'I64':
      // Sign-extend the int32 into the high word.
      for (let i = 0; i < n; i++) {
        view.setInt32(at + 8 * i, d[i], true);
        view.setInt32(at + 8 * i + 4, d[i] < 0 ? -1 : 0, true);
      }
      return;
    case 'I16':
      for (let i = 0; i < n; i++) view.setInt16(at + 2 * i, d[i], true);
      return;
    case 'I8':
      for (let i = 0; i < n; i++) view.setInt8(at + i, d[i]);
      return;
    case 'U8':
      for (let i = 0; i < n; i++) out[at + i] = d[i];
      return;
    case 'BOOL':
      for (let i = 0; i < n; i++) out[at + i] = d[i] ? 1 : 0;
      return;
  }
}
