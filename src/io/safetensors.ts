/**
 * Reader and writer for the safetensors format:
 *   u64 little-endian header length N | N bytes of JSON header | raw tensor bytes.
 * The header maps names to {dtype, shape, data_offsets:[begin, end]} (offsets relative to
 * the end of the header) plus an optional "__metadata__" string map.
 *
 * We write this ourselves rather than use the npm `safetensors` package: that one (0.0.1) is
 * browser-only and read-only, and we need strict validation and a writer for checkpoints.
 */
import { HostTensor, StoredDtype, TensorMap, halfToFloat, numElements } from './host-tensor';

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
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    fail(source, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(source, 'header is not a JSON object');
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
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) fail(source, `tensor '${name}' has unsupported dtype ${JSON.stringify(info.dtype)}`);
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
