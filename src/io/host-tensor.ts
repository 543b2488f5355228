/**
 * Tensors as they come off disk, before they reach TensorFlow.js.
 *
 * Loaders decode every stored dtype into one of three JavaScript arrays so that
 * the model code never sees half floats or 64-bit integers:
 *   floating point (F64/F32/F16/BF16) -> Float32Array
 *   integers (I64/I32/I16/I8/U8)       -> Int32Array (I64 values outside int32 are an error)
 *   BOOL                               -> Uint8Array
 * `dtype` keeps the stored dtype so that writers can round-trip it.
 */
export type StoredDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface HostTensor {
  dtype: StoredDtype;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

/** Parameter name -> tensor, in the checkpoint's own naming. */
export type TensorMap = Map<string, HostTensor>;

export function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isFloatDtype(dtype: StoredDtype): boolean {
  return dtype === 'F64' || dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

/** The tensor's data as float32; throws (naming the tensor) if it does not hold floats. */
export function floatData(t: HostTensor, name: string): Float32Array {
  if (!(t.data instanceof Float32Array)) {
    throw new Error(`tensor '${name}' has dtype ${t.dtype}, expected a floating-point tensor`);
  }
  return t.data;
}

/** Index of the first NaN or +-Infinity in `data`, or -1 (x - x is 0 only for finite x). */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (data[i] - data[i] !== 0) return i;
  return -1;
}

/** IEEE half -> float32. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float32 -> IEEE half bits, round to nearest even. */
export function floatToHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = sign | (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return half;
}
