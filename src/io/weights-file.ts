/**
 * Loading weight files from disk whatever their format (atomic writing: ./atomic-write).
 *
 * Format detection looks at the content first, the extension second:
 *   "PK\x03\x04"                  -> zip-based torch.save checkpoint (pytorch_model.bin, *.pt, *.pth)
 *   u64 header length then '{'    -> safetensors
 * so a safetensors file renamed to .bin (or the reverse) still loads. Errors name the path.
 */
import * as fs from 'fs';
import * as path from 'path';
import { TensorMap } from './host-tensor';
import { readSafetensors } from './safetensors';
import { readTorchCheckpoint } from './torch-checkpoint';
import { looksLikeZip } from './zip';

export type WeightsFormat = 'safetensors' | 'torch';

/** The format of a weights file's bytes; `source` (a path) only breaks ties and names errors. */
export function detectWeightsFormat(bytes: Uint8Array, source: string): WeightsFormat {
  if (looksLikeZip(bytes)) return 'torch';
  // safetensors: the JSON header begins right after the 8-byte length.
  if (bytes.byteLength >= 9 && bytes[8] === 0x7b) return 'safetensors';
  const ext = path.extname(source).toLowerCase();
  if (ext === '.safetensors') return 'safetensors';
  if (ext === '.bin' || ext === '.pt' || ext === '.pth' || ext === '.ckpt') return 'torch';
  throw new Error(`${source}: unrecognised weights file (neither safetensors nor a zip-based torch checkpoint)`);
}

/** Decode a weights file held in memory; `source` names it in errors. */
export function readWeightsBytes(bytes: Uint8Array, source: string): TensorMap {
  return detectWeightsFormat(bytes, source) === 'torch' ? readTorchCheckpoint(bytes, source) : readSafetensors(bytes, source).tensors;
}

export function readWeightsFileSync(file: string): TensorMap {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read weights file (${(e as Error).message})`);
  }
  return readWeightsBytes(bytes, file);
}

export async function readWeightsFile(file: string): Promise<TensorMap> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (e) {
    throw new Error(`${file}: cannot read weights file (${(e as Error).message})`);
  }
  return readWeightsBytes(bytes, file);
}
