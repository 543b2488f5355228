/**
 * Writes a GLiNER model folder of a published family's exact architecture with seeded random
 * weights, for tests and benchmarks at full size without downloading a checkpoint:
 *
 *   gliner_config.json   the family's config (see buildFamilyConfig; --style published|current)
 *   config.json          the encoder config
 *   model.safetensors    float32, every tensor GlinerModel expects, names as upstream saves them
 *   spm.model            a small SentencePiece model (default: the reference fixture's, 700 pieces)
 *   added_tokens.json, tokenizer_config.json, special_tokens_map.json
 *                        [MASK], [FLERT], <<ENT>>, <<SEP>> at the family's real ids (e.g. 128000..128003),
 *                        so prompts index the full-size embedding table as in the real model
 *
 * The folder loads through GLiNER.fromPretrained like a downloaded one. Tensor shapes come from
 * glinerParameterShapes (no tfjs allocation), which test/families.test.ts checks against
 * GlinerModel.namedParameters().
 *
 * CLI:  npx ts-node tools/make-random-model.ts --family gliner_small-v2.1 --output /tmp/small [--seed 0]
 */
import * as fs from 'fs';
import * as path from 'path';
import { ConfigStyle, buildFamilyConfig, countParameters, getFamily, glinerParameterShapes, familyNames, FAMILIES } from '../src/families';
import { parseGlinerConfig } from '../src/config';
import { TensorMap } from '../src/io/host-tensor';
import { writeSafetensors } from '../src/io/safetensors';
import { writeFileAtomic } from '../src/io/atomic-write';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, numberOption, parseCommand, requireOption } from './cli-args';

export interface MakeRandomModelOptions {
  /** Family name, e.g. 'gliner_small-v2.1' (see src/families.ts). */
  family: string;
  /** Folder to write; created if missing. */
  outDir: string;
  /** Seed of the weights (same seed, same bytes). Default 0. */
  seed?: number;
  /** Config style (default 'current'; 'published' writes the repo's old-style gliner_config.json). */
  style?: ConfigStyle;
  /** SentencePiece model to copy; default: fixtures/reference/tiny_buckets256/spm.model. */
  spmModel?: string;
  /** Replace files in a non-empty folder. Default false. */
  overwrite?: boolean;
}

export interface RandomModelInfo {
  dir: string;
  family: string;
  parameterCount: number;
  tensorCount: number;
  weightsFile: string;
  weightsBytes: number;
}

/** mulberry32 step: turns a 32-bit seed into well-mixed words (used only to seed xorshift128). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** FNV-1a of the name, so a tensor's values depend on its name and the seed, not on write order. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Standard deviation of random weights: BERT-style initializer_range. */
const INIT_STD = 0.02;

/**
 * Values of one parameter: LayerNorm weights 1, biases 0, everything else uniform with
 * std 0.02 (HF's initializer_range), which keeps activations in a realistic range at any depth.
 */
export function randomParameter(name: string, shape: readonly number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (name.endsWith('LayerNorm.weight')) return out.fill(1);
  if (name.endsWith('.bias') || /\.bias_(ih|hh)_l0(_reverse)?$/.test(name)) return out;
  // xorshift128, inlined: shifts and xors only. (A Math.imul-based generator in this loop is
  // ~30x slower under Jest, whose sandbox realm's builtins V8 does not inline, and the loop runs
  // 445M times for large.) Seeded per tensor from the name and the seed.
  const mix = mulberry32(hashName(name) ^ Math.imul(seed >>> 0, 0x9e3779b1));
  let x = mix() | 1;
  let y = mix();
  let z = mix();
  let w = mix();
  // Signed 32-bit words scaled to [-h, h): uniform with std h / sqrt(3) = INIT_STD.
  const scale = (INIT_STD * Math.sqrt(3)) / 2147483648;
  for (let i = 0; i < n; i++) {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
    out[i] = (w | 0) * scale;
  }
  return out;
}

/** The reference fixture's spm.model, from tools/ in a checkout or dist/tools/ in a build. */
function defaultSpmModel(): string {
  for (const up of ['..', '../..']) {
    const p = path.join(__dirname, up, 'fixtures', 'reference', 'tiny_buckets256', 'spm.model');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('no default spm.model found (fixtures/ is not installed with the package): pass spmModel / --spm FILE');
}

function tokenizerFiles(ids: { mask: number; flert: number; ent: number; sep: number }): Record<string, unknown> {
  const entry = (content: string) => ({ content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true });
  const decoder: Record<string, unknown> = {
    0: entry('[PAD]'),
    1: entry('[CLS]'),
    2: entry('[SEP]'),
    3: entry('[UNK]'),
    [ids.mask]: entry('[MASK]'),
    [ids.flert]: entry('[FLERT]'),
    [ids.ent]: entry('<<ENT>>'),
    [ids.sep]: entry('<<SEP>>'),
  };
  return {
    'added_tokens.json': { '[MASK]': ids.mask, '[FLERT]': ids.flert, '<<ENT>>': ids.ent, '<<SEP>>': ids.sep },
    'tokenizer_config.json': {
      added_tokens_decoder: decoder,
      bos_token: '[CLS]',
      cls_token: '[CLS]',
      do_lower_case: false,
      eos_token: '[SEP]',
      mask_token: '[MASK]',
      pad_token: '[PAD]',
      sep_token: '[SEP]',
      split_by_punct: false,
      tokenizer_class: 'DebertaV2Tokenizer',
      unk_token: '[UNK]',
      vocab_type: 'spm',
    },
    'special_tokens_map.json': {
      bos_token: '[CLS]', cls_token: '[CLS]', eos_token: '[SEP]', mask_token: '[MASK]',
      pad_token: '[PAD]', sep_token: '[SEP]', unk_token: '[UNK]',
    },
  };
}

/** Write a random-weight model folder for `options.family`. */
export async function makeRandomModel(options: MakeRandomModelOptions): Promise<RandomModelInfo> {
  const f = getFamily(options.family);
  if (!f.supported) throw new Error(`${f.name}: cannot build a loadable model: ${f.note}`);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
  const dir = options.outDir;
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0 && !options.overwrite) {
    throw new Error(`${dir}: folder is not empty (pass overwrite / --force to replace its files)`);
  }
  const spm = options.spmModel ?? defaultSpmModel();
  if (!fs.existsSync(spm)) throw new Error(`${spm}: spm.model not found`);
  fs.mkdirSync(dir, { recursive: true });

  const files = buildFamilyConfig(f.name, { style: options.style ?? 'current' });
  // Shapes always follow the real checkpoint (resized table), whichever config style is written.
  const current = buildFamilyConfig(f.name, { style: 'current' });
  const shapes = glinerParameterShapes(parseGlinerConfig(current.glinerConfig, `${f.name} (generated config)`));

  const tensors: TensorMap = new Map();
  for (const [name, shape] of shapes) tensors.set(name, { dtype: 'F32', shape, data: randomParameter(name, shape, seed) });
  const weightsFile = path.join(dir, 'model.safetensors');
  let bytes: Uint8Array | null = writeSafetensors(tensors, { format: 'pt' });
  tensors.clear(); // let the float arrays go before the file write
  const weightsBytes = bytes.byteLength;
  await writeFileAtomic(weightsFile, bytes);
  bytes = null;

  const json = (name: string, value: unknown) => fs.writeFileSync(path.join(dir, name), JSON.stringify(value, null, 2) + '\n');
  json('gliner_config.json', files.glinerConfig);
  json('config.json', files.encoderConfig);
  for (const [name, value] of Object.entries(tokenizerFiles(f.tokenIds))) json(name, value);
  fs.copyFileSync(spm, path.join(dir, 'spm.model'));

  return { dir, family: f.name, parameterCount: countParameters(shapes), tensorCount: shapes.length, weightsFile, weightsBytes };
}

export const MAKE_RANDOM_MODEL_HELP = `Usage: ts-node tools/make-random-model.ts --family NAME --output DIR [options]

Write a GLiNER model folder with the exact architecture of a published family and seeded
random float32 weights (for tests and benchmarks; it predicts nothing meaningful).

Options:
  --family NAME     one of: ${familyNames().filter((n) => getFamily(n).supported).join(', ')}
  --output DIR      folder to write (created if missing)                          [required]
  --seed N          weight seed, an integer in [0, 2^32)                           [default: 0]
  --style STYLE     current | published: gliner_config.json as current GLiNER saves it, or
                    exactly as the urchade repo publishes it (old style)          [default: current]
  --spm FILE        SentencePiece model to copy          [default: the reference fixture's spm.model]
  --force           replace files in a non-empty folder
  --list            print the families with their parameter counts and exit
  -h, --help        show this help`;

export async function runMakeRandomModel(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const values = parseCommand(argv, {
    family: { type: 'string' },
    output: { type: 'string' },
    seed: { type: 'string' },
    style: { type: 'string' },
    spm: { type: 'string' },
    force: { type: 'boolean' },
    list: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    out(MAKE_RANDOM_MODEL_HELP + '\n');
    return;
  }
  if (values.list) {
    for (const f of FAMILIES) {
      const params = f.supported ? countParameters(glinerParameterShapes(parseGlinerConfig(buildFamilyConfig(f.name).glinerConfig, f.name))) : NaN;
      out(`${f.name.padEnd(20)} ${f.supported ? `${(params / 1e6).toFixed(1)}M parameters` : `not supported: ${f.note}`}\n`);
    }
    return;
  }
  const family = requireOption(values, 'family');
  if (!familyNames().includes(family.replace(/^urchade\//, ''))) {
    throw new UsageError(`--family must be one of ${familyNames().join(', ')}, got '${family}'`);
  }
  const style = (values.style ?? 'current') as string;
  if (style !== 'current' && style !== 'published') throw new UsageError(`--style must be 'current' or 'published', got '${style}'`);
  const seed = numberOption(values, 'seed', 0, (v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff, 'an integer in [0, 2^32)');
  const started = Date.now();
  const info = await makeRandomModel({
    family,
    outDir: requireOption(values, 'output'),
    seed,
    style,
    spmModel: values.spm as string | undefined,
    overwrite: values.force === true,
  });
  const mb = (info.weightsBytes / 1e6).toFixed(1);
  out(`${info.dir}: ${info.family}, ${info.parameterCount.toLocaleString('en-US')} parameters in ${info.tensorCount} tensors, ${mb} MB, ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

if (require.main === module) {
  runMakeRandomModel(process.argv.slice(2)).then(
    () => {
      process.exitCode = EXIT_OK;
    },
    (e: unknown) => {
      const usage = e instanceof UsageError;
      process.stderr.write(`make-random-model: ${(e as Error).message}\n${usage ? "Run with --help for usage.\n" : ''}`);
      process.exitCode = usage ? EXIT_USAGE : EXIT_FAILURE;
    },
  );
}
