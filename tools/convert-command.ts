/**
 * `gliner-tf convert --model DIR`: pytorch_model.bin -> model.safetensors with the same tensor
 * names, shapes and dtypes. The new file is decoded again and compared tensor by tensor with the
 * checkpoint before it is written (atomically), so a bad conversion never lands on disk.
 */
import * as fs from 'fs';
import * as path from 'path';
import { HostTensor, TensorMap } from '../src/io/host-tensor';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { readTorchCheckpoint } from '../src/io/torch-checkpoint';
import { writeFileAtomic } from '../src/io/atomic-write';
import { parseCommand, requireOption } from './cli-args';

export const CONVERT_HELP = `Usage: gliner-tf convert --model DIR [--output FILE] [--force]

Convert a PyTorch checkpoint (DIR/pytorch_model.bin) to safetensors, keeping every tensor's
name, shape and dtype. The result is read back and compared with the checkpoint before it is
written, and written atomically (readers never see a partial file).

Options:
  --model DIR          model folder holding pytorch_model.bin (or the path of a .bin file)  [required]
  --output FILE        where to write                               [default: DIR/model.safetensors]
  --force              replace an existing output file
  -h, --help           show this help

Exit status: 0 success, 1 conversion failed (nothing written), 2 bad command line.`;

export interface ConvertResult {
  input: string;
  output: string;
  tensors: number;
  parameters: number;
  bytes: number;
}

function sameData(a: HostTensor['data'], b: HostTensor['data']): boolean {
  if (a.length !== b.length || a.constructor !== b.constructor) return false;
  for (let i = 0; i < a.length; i++) {
    // NaN == NaN here: the payload is not something a checkpoint relies on.
    if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  }
  return true;
}

/** Throws, naming the first tensor that differs, unless `back` holds exactly `orig`. */
export function verifyRoundTrip(orig: TensorMap, back: TensorMap, what: string): void {
  if (orig.size !== back.size) throw new Error(`${what}: ${back.size} tensors after conversion, ${orig.size} before`);
  for (const [name, t] of orig) {
    const b = back.get(name);
    if (!b) throw new Error(`${what}: tensor '${name}' is missing after conversion`);
    if (b.dtype !== t.dtype) throw new Error(`${what}: tensor '${name}' changed dtype ${t.dtype} -> ${b.dtype}`);
    if (b.shape.length !== t.shape.length || b.shape.some((d, i) => d !== t.shape[i])) {
      throw new Error(`${what}: tensor '${name}' changed shape [${t.shape}] -> [${b.shape}]`);
    }
    if (!sameData(t.data, b.data)) throw new Error(`${what}: tensor '${name}' has different values after conversion`);
  }
}

function resolveInput(model: string): string {
  if (!fs.existsSync(model)) throw new Error(`${model}: no such file or folder`);
  if (fs.statSync(model).isFile()) return model;
  const bin = path.join(model, 'pytorch_model.bin');
  if (!fs.existsSync(bin)) throw new Error(`${model}: no pytorch_model.bin to convert`);
  return bin;
}

export async function convertCheckpoint(model: string, options: { output?: string; force?: boolean } = {}): Promise<ConvertResult> {
  const input = resolveInput(model);
  const output = options.output ?? path.join(path.dirname(input), 'model.safetensors');
  if (path.resolve(output) === path.resolve(input)) throw new Error(`${output}: output would overwrite the input`);
  if (fs.existsSync(output) && !options.force) throw new Error(`${output}: already exists (pass --force to replace it)`);
  const tensors = readTorchCheckpoint(await fs.promises.readFile(input), input);
  // transformers and safetensors tooling expect the framework in the metadata.
  const bytes = writeSafetensors(tensors, { format: 'pt' });
  verifyRoundTrip(tensors, readSafetensors(bytes, output).tensors, `${input} -> ${output}`);
  await writeFileAtomic(output, bytes);
  let parameters = 0;
  for (const t of tensors.values()) parameters += t.data.length;
  return { input, output, tensors: tensors.size, parameters, bytes: bytes.byteLength };
}

export async function runConvert(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const values = parseCommand(argv, {
    model: { type: 'string' },
    output: { type: 'string' },
    force: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    out.write(CONVERT_HELP + '\n');
    return;
  }
  const r = await convertCheckpoint(requireOption(values, 'model'), {
    output: values.output as string | undefined,
    force: values.force === true,
  });
  out.write(`${r.output}: ${r.tensors} tensors, ${r.parameters.toLocaleString('en-US')} parameters, ${(r.bytes / 1e6).toFixed(1)} MB (verified against ${r.input})\n`);
}
