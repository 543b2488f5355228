/**
 * Loading weight files from disk whatever their format, and writing files atomically.
 *
 * Format detection looks at the content first, the extension second:
 *   "PK\x03\x04"                  -> zip-based torch.save checkpoint (pytorch_model.bin, *.pt, *.pth)
 *   u64 header length then '{'    -> safetensors
 * so a safetensors file renamed to .bin (or the reverse) still loads. Errors name the path.
 */
import * as fs from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';
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

function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `${path.basename(file)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** fsync the folder so the rename itself survives a crash; not every platform allows it (Windows). */
function syncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Write `bytes` to `file` so that readers see either the old file or the complete new one:
 * write a temporary file in the same folder, fsync it, rename it over `file`. The temporary
 * file is removed if anything fails.
 */
export function writeFileAtomicSync(file: string, bytes: Uint8Array): void {
  const tmp = tempPathFor(file);
  try {
    const fd = fs.openSync(tmp, 'wx');
    try {
      let done = 0;
      while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`${file}: cannot write file (${(e as Error).message})`);
  }
  syncDirSync(path.dirname(file));
}

/** Async form of `writeFileAtomicSync`. */
export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = tempPathFor(file);
  try {
    const handle = await fs.promises.open(tmp, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw new Error(`${file}: cannot write file (${(e as Error).message})`);
  }
  syncDirSync(path.dirname(file));
}
