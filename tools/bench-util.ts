/**
 * Shared pieces of the benchmarks: a random-weight GLiNER at real sizes, synthetic inputs that go
 * through the real batch builder, timing helpers, and running a benchmark in child processes (the
 * wasm thread count is fixed per process, so 1- vs N-thread figures come from separate processes,
 * run interleaved so that machine load hits both alike).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { GlinerConfig } from '../src/config';
import { familyGlinerConfig } from '../src/families';
import { writeFileAtomicSync } from '../src/io/atomic-write';
import { GlinerModel, ModelInput } from '../src/model';
import { buildBatch, WordTokenizer } from '../src/processing/batch';
import { modelInputFromCollated } from '../src/processing/model-input';
import { lossAndGrads } from '../src/training/step';
import { prepareSpanBatch } from '../src/training/data';
import { DEFAULT_LOSS } from '../src/training/loss';

/** The family benchmarked unless --family says otherwise. */
export const DEFAULT_BENCH_FAMILY = 'gliner_small-v2.1';

/**
 * The GLiNER config of a published family at its real sizes (src/families.ts: encoder, vocabulary,
 * GLiNER width, max_width, max_len), e.g. gliner_small-v2.1 = deberta-v3-small + a 512-wide head.
 */
export function benchConfig(family = DEFAULT_BENCH_FAMILY): GlinerConfig {
  return familyGlinerConfig(family);
}

/** A model with N(0, 0.02) weights, ones for LayerNorm scales (zeros would make every layer trivial). */
export function randomModel(config: GlinerConfig, seed = 1): GlinerModel {
  const model = new GlinerModel(config);
  let s = seed;
  for (const [name, p] of model.namedParameters()) {
    tf.tidy(() => {
      const shape = p.variable.shape;
      const isNormScale = /LayerNorm\.weight$/.test(name);
      const isBias = /bias$/.test(name) || /LayerNorm\.bias$/.test(name);
      let value: tf.Tensor;
      if (isNormScale) value = tf.ones(shape);
      else if (isBias) value = tf.zeros(shape);
      else if (shape.length === 2 && shape[0] > 4096) {
        // The word-embedding table (98M numbers): filled on the host, one copy in the wasm heap
        // (sampling it with tf ops would leave several table-sized blocks in the heap).
        const data = new Float32Array(shape[0] * shape[1]);
        let x = s++ * 2654435761;
        for (let i = 0; i < data.length; i++) {
          x = (Math.imul(x, 1103515245) + 12345) | 0;
          data[i] = (x / 2 ** 31) * 0.035; // uniform, std ~0.02
        }
        value = tf.tensor(data, shape);
      } else value = tf.randomNormal(shape, 0, 0.02, 'float32', s++);
      p.variable.assign(value);
    });
  }
  return model;
}

/**
 * A stand-in for the SentencePiece tokenizer: every word is one piece, every fourth word two
 * (about the pieces-per-word of English text under deberta-v3's vocabulary), ids hashed into the vocab.
 */
export class SyntheticTokenizer implements WordTokenizer {
  readonly clsId = 1;
  readonly sepId = 2;
  readonly padId = 0;
  readonly unkId = 3;
  private counter = 0;
  constructor(private readonly vocab: number, private readonly special: Record<string, number>) {}
  encodeWord(word: string): number[] {
    const known = this.special[word];
    if (known !== undefined) return [known];
    let h = 2166136261;
    for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 16777619);
    const id = 10 + ((h >>> 0) % (this.vocab - 20));
    return this.counter++ % 4 === 3 ? [id, 10 + ((id * 7) % (this.vocab - 20))] : [id];
  }
}

export function syntheticWords(count: number, seed: number): string[] {
  const words: string[] = [];
  let x = seed * 9973 + 17;
  for (let i = 0; i < count; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    words.push(`w${x % 5000}`);
  }
  return words;
}

export function syntheticLabels(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `entity type ${i}`);
}

/** The id of the entity-type token (<<ENT>>); <<SEP>> follows it, as GLiNER adds them. */
export function classTokenId(config: GlinerConfig): number {
  return config.classTokenIndex;
}

export function tokenizerFor(config: GlinerConfig): SyntheticTokenizer {
  const ent = classTokenId(config);
  return new SyntheticTokenizer(config.encoder.vocabSize, { [config.entToken]: ent, [config.sepToken]: ent + 1 });
}

/** The model input for `batch` texts of `words` words and `labels` labels, via the real batch builder. */
export function syntheticInput(config: GlinerConfig, batch: number, words: number, labels: number, seed = 0): ModelInput {
  const tok = tokenizerFor(config);
  const rows = Array.from({ length: batch }, (_, b) => ({ words: syntheticWords(words, seed + b), labels: syntheticLabels(labels) }));
  const collated = buildBatch(rows, tok, { entToken: config.entToken, sepToken: config.sepToken });
  return modelInputFromCollated(collated, classTokenId(config), config.embedEntToken);
}

/**
 * One training step (forward with dropout, loss, backward; no optimizer update) over `batch`
 * synthetic texts with two gold spans each, as a function that runs it to completion.
 */
export function trainStep(model: GlinerModel, config: GlinerConfig, batch: number, words: number, labels: number): () => void {
  const examples = Array.from({ length: batch }, (_, b) => ({
    tokens: syntheticWords(words, 100 + b),
    spans: [
      { start: 3, end: 4, label: 'entity type 0' },
      { start: 10, end: 10, label: 'entity type 1' },
    ],
  }));
  const prepared = prepareSpanBatch(examples, examples.map(() => syntheticLabels(labels)), { maxLen: config.maxLen, maxWidth: config.maxWidth });
  const ctx = { model, tokenizer: tokenizerFor(config), classTokenId: classTokenId(config) };
  return () => {
    const r = lossAndGrads(ctx, prepared, DEFAULT_LOSS);
    r.loss.dataSync();
    r.loss.dispose();
    for (const g of r.grads.values()) g.dispose();
  };
}

/**
 * Matmul FLOPs of one forward pass at these sizes, counted from the model's structure
 * (2*m*k*n per product; the embedding lookup and elementwise work are not counted).
 */
export function forwardMatmulFlops(config: GlinerConfig, input: ModelInput): number {
  const e = config.encoder;
  const B = input.batchSize;
  const T = input.seqLength;
  const L = input.numWords;
  const C = input.numClasses;
  const W = config.maxWidth;
  const h = e.hiddenSize;
  const D = config.hiddenSize;
  const span2 = 2 * (e.positionBuckets > 0 ? e.positionBuckets : e.maxRelativePositions);
  const rows = B * T;
  const perLayer =
    2 * rows * h * h * 4 + // q, k, v, attention output
    2 * rows * h * e.intermediateSize * 2 + // feed-forward in and out
    2 * 2 * B * T * T * h + // scores and probs x values, all heads
    2 * 2 * rows * h * span2 + // c2p and p2c against the relative embeddings
    2 * 2 * span2 * h * h; // relative embeddings through this layer's key and query projections
  let flops = e.numHiddenLayers * perLayer;
  if (h !== D) flops += 2 * B * (L + C) * h * D;
  if (config.numRnnLayers > 0) flops += 2 * B * L * D * 4 * D + 2 * B * L * (D / 2) * 4 * (D / 2) * 2; // input and recurrent products, both directions
  flops += 2 * 2 * B * L * (D * 4 * D + 4 * D * D); // project_start / project_end FFNs
  flops += 2 * 2 * B * L * D * 4 * D; // out_project's first layer, applied per word (see span-rep.ts)
  flops += 2 * B * L * W * 4 * D * D; // out_project's second layer, per span
  flops += 2 * B * C * (D * 4 * D + 4 * D * D); // prompt FFN
  flops += 2 * B * L * W * D * C; // span x prompt scores
  return flops;
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Median of `reps` timed runs after `warmup` untimed ones. `run` must finish its work (read results). */
export function timeMedian(run: () => void, reps: number, warmup = 1): { median: number; min: number; all: number[] } {
  for (let i = 0; i < warmup; i++) run();
  const all: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = nowMs();
    run();
    all.push(nowMs() - t);
  }
  const sorted = [...all].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], all };
}

export function peakRssMb(): number {
  // maxRSS is in kilobytes.
  return process.resourceUsage().maxRSS / 1024;
}

/**
 * Run `script` (a tools/*.ts file) in a child process with extra arguments; it must print one
 * line `RESULT <json>` to stdout. Returns the parsed JSON.
 */
export function runChild<T>(script: string, args: string[], env: Record<string, string> = {}): T {
  const res = spawnSync(process.execPath, [...process.execArgv, '-r', 'ts-node/register/transpile-only', script, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.status !== 0) throw new Error(`${script} ${args.join(' ')} failed (${res.status}):\n${res.stderr}`);
  const line = res.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`${script} printed no RESULT line:\n${res.stdout}\n${res.stderr}`);
  return JSON.parse(line.slice('RESULT '.length)) as T;
}

export function fmt(x: number, digits = 1): string {
  return x.toFixed(digits);
}

/** The value after `--name` on the command line, else `fallback`. */
export function arg(name: string, fallback: string): string;
export function arg(name: string): string | undefined;
export function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** One line saying where figures were measured. */
export function machineLine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} logical cores, Node ${process.version}, @tensorflow/tfjs ${tf.version.tfjs}`;
}

export const BENCHMARKS_FILE = path.join(__dirname, '..', 'BENCHMARKS.md');

/**
 * Put `markdown` into BENCHMARKS.md between `<!-- begin KEY -->` and `<!-- end KEY -->`
 * (appended at the end the first time), leaving the rest of the file as it is.
 */
export function writeBenchmarkSection(key: string, markdown: string, file = BENCHMARKS_FILE): void {
  const begin = `<!-- begin ${key} -->`;
  const end = `<!-- end ${key} -->`;
  const block = `${begin}\n${markdown.trim()}\n${end}`;
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  const next = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n${block}\n`;
  writeFileAtomicSync(file, Buffer.from(next, 'utf8'));
  process.stderr.write(`wrote section '${key}' of ${file}\n`);
}
