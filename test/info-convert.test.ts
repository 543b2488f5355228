/**
 * `gliner-tf info` and `gliner-tf convert` on the reference fixture: through the CLI's main()
 * in-process (fast: exit codes, messages), and once each as a child process as a user runs them;
 * plus the round-trip check convert relies on.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { TensorMap } from '../src/io/host-tensor';
import { verifyRoundTrip } from '../tools/convert-command';
import { cliInProcess, runCli } from './helpers/cli';
import { REFERENCE_ROOT } from './helpers/reference';

const FIXTURE = path.join(REFERENCE_ROOT, 'tiny_buckets256');


let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-info-convert-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of the fixture folder without some of its files. */
function copyFixture(name: string, without: string[]): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(FIXTURE)) {
    if (!without.includes(f)) fs.copyFileSync(path.join(FIXTURE, f), path.join(dir, f));
  }
  return dir;
}

describe('gliner-tf info', () => {
  test('--help and the main help list the command', async () => {
    const r = await cliInProcess(['info', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: gliner-tf info --model DIR/);
    expect((await cliInProcess(['--help'])).stdout).toMatch(/info\s+describe a model folder[\s\S]*convert\s+convert pytorch_model\.bin/);
  });

  test('usage errors exit 2, unreadable folders exit 1 naming the path', async () => {
    expect((await cliInProcess(['info'])).code).toBe(2);
    expect((await cliInProcess(['info', '--model', FIXTURE, '--bogus'])).code).toBe(2);
    const backend = await cliInProcess(['info', '--model', FIXTURE, '--backend', 'gpu']);
    expect(backend.code).toBe(2);
    expect(backend.stderr).toMatch(/--backend must be one of auto, tensorflow, wasm, cpu, got 'gpu'/);
    const missing = path.join(tmp, 'nope');
    const r = await cliInProcess(['info', '--model', missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(missing);
  });

  test('--json (as a child process): sizes, parameters, weights, tokenizer, backend', () => {
    const r = runCli(['info', '--model', FIXTURE, '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({
      model: FIXTURE,
      family: null,
      encoder: { layers: 2, hidden: 32, heads: 4, intermediate: 64, vocab: 704, positionBuckets: 256 },
      gliner: { hidden: 24, maxWidth: 12, maxLen: 384, spanMode: 'markerV0', rnnLayers: 1 },
      parameters: 81784,
      weights: { format: 'safetensors', tensors: 64, parameters: 81784, dtypes: { F32: 64 } },
      tokenizer: { file: 'spm.model', pieces: 700, size: 704, entId: 702, sepId: 703 },
      backend: { name: 'wasm' },
    });
    expect(info.weights.bytes).toBe(fs.statSync(path.join(FIXTURE, 'model.safetensors')).size);
  });

  test('text output, and a folder with only pytorch_model.bin', async () => {
    const dir = copyFixture('bin-only', ['model.safetensors']);
    const r = await cliInProcess(['info', '--model', dir, '--backend', 'wasm']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    // wasm (the tests' backend) adds where its matrix products run.
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(['model', 'family', 'architecture', 'encoder', 'gliner', 'vocab', 'parameters', 'weights', 'backend', 'matmul']);
    expect(r.stdout).toMatch(/^matmul\s+(native: |xnnpack \(wasm SIMD\))/m);
    expect(r.stdout).toMatch(/^family\s+no published family has this architecture$/m);
    expect(r.stdout).toMatch(/^architecture\s+gliner_uni_encoder_span: span model, markerV0 span head/m);
    expect(r.stdout).toMatch(/^parameters\s+81,784 \(0\.3 MB as float32\)$/m);
    expect(r.stdout).toMatch(/^weights\s+pytorch_model\.bin: PyTorch zip checkpoint/m);
    expect(r.stdout).toMatch(/^backend\s+wasm \(@tensorflow\/tfjs-backend-wasm\)/m);
  });
});

describe('gliner-tf convert', () => {
  test('pytorch_model.bin -> model.safetensors (as a child process): same names, shapes, dtypes and values', () => {
    const dir = copyFixture('convert', ['model.safetensors']);
    const r = runCli(['convert', '--model', dir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = path.join(dir, 'model.safetensors');
    expect(r.stdout).toContain(`${out}: 64 tensors, 81,784 parameters`);
    const converted = readSafetensors(fs.readFileSync(out), out);
    expect(converted.metadata).toEqual({ format: 'pt' });
    // The fixture's model.safetensors was written by Python from the same state dict.
    const reference = readSafetensors(fs.readFileSync(path.join(FIXTURE, 'model.safetensors'))).tensors;
    expect(() => verifyRoundTrip(reference, converted.tensors, 'fixture vs converted')).not.toThrow();
    // Nothing else was left in the folder (the atomic write's temporary file is gone).
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  test('refuses to overwrite without --force; --output picks the file', async () => {
    const dir = copyFixture('overwrite', []);
    const r = await cliInProcess(['convert', '--model', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/model\.safetensors: already exists \(pass --force to replace it\)/);
    expect((await cliInProcess(['convert', '--model', dir, '--force'])).code).toBe(0);
    const custom = path.join(tmp, 'custom.safetensors');
    const c = await cliInProcess(['convert', '--model', path.join(dir, 'pytorch_model.bin'), '--output', custom]);
    expect(c.code).toBe(0);
    expect(readSafetensors(fs.readFileSync(custom)).tensors.size).toBe(64);
  });

  test('errors: no checkpoint (1), not a checkpoint (1), usage (2)', async () => {
    const dir = copyFixture('no-bin', ['pytorch_model.bin']);
    const r = await cliInProcess(['convert', '--model', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${dir}: no pytorch_model.bin to convert`);
    const bogus = path.join(tmp, 'bogus.bin');
    fs.writeFileSync(bogus, 'not a checkpoint');
    const b = await cliInProcess(['convert', '--model', bogus, '--output', path.join(tmp, 'bogus.safetensors')]);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain(bogus);
    expect(fs.existsSync(path.join(tmp, 'bogus.safetensors'))).toBe(false);
    expect((await cliInProcess(['convert'])).code).toBe(2);
    expect((await cliInProcess(['convert', '--help'])).stdout).toMatch(/^Usage: gliner-tf convert --model DIR/);
  });
});

describe('verifyRoundTrip', () => {
  const base = (): TensorMap =>
    new Map([
      ['a', { dtype: 'F16', shape: [2], data: new Float32Array([1.5, -2]) }],
      ['b', { dtype: 'BF16', shape: [1, 2], data: new Float32Array([3, NaN]) }],
      ['c', { dtype: 'I64', shape: [2], data: new Int32Array([7, -1]) }],
    ]);

  test('half-precision and integer tensors survive the safetensors round trip', () => {
    const back = readSafetensors(writeSafetensors(base(), { format: 'pt' })).tensors;
    expect(() => verifyRoundTrip(base(), back, 'rt')).not.toThrow();
    expect([...back.values()].map((t) => t.dtype)).toEqual(['F16', 'BF16', 'I64']);
  });

  test('names the tensor that differs', () => {
    const changed = base();
    (changed.get('a')!.data as Float32Array)[1] = -2.5;
    expect(() => verifyRoundTrip(base(), changed, 'rt')).toThrow("rt: tensor 'a' has different values after conversion");
    const dtype = base();
    dtype.set('c', { ...dtype.get('c')!, dtype: 'I32' });
    expect(() => verifyRoundTrip(base(), dtype, 'rt')).toThrow("rt: tensor 'c' changed dtype I64 -> I32");
    const shape = base();
    shape.set('b', { ...shape.get('b')!, shape: [2, 1] });
    expect(() => verifyRoundTrip(base(), shape, 'rt')).toThrow("rt: tensor 'b' changed shape [1,2] -> [2,1]");
    const missing = base();
    missing.delete('a');
    expect(() => verifyRoundTrip(base(), missing, 'rt')).toThrow('rt: 2 tensors after conversion, 3 before');
  });
});
