/**
 * `gliner-tf info --model DIR`: what a model folder holds, without running it: the published
 * family it has the architecture of, encoder and GLiNER sizes, parameter count, weights file
 * format, tokenizer, and the backend this machine would run it on.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BackendInfo, BackendPreference, BACKEND_PREFERENCES, initBackend } from '../src/backend';
import { GlinerConfig } from '../src/config';
import { SPAN_MODES, SpanMode } from '../src/architecture';
import { ENCODERS, countParameters, glinerParameterShapes, matchFamily } from '../src/families';
import { ResolveOptions, resolveModelSource } from '../src/io/resolve-model';
import { reconcileTokenizer } from '../src/gliner';
import { findWeightsFile, readGlinerConfig } from '../src/io/model-dir';
import { loadTokenizerFromDir } from '../src/io/tokenizer-files';
import { detectWeightsFormat } from '../src/io/weights-file';
import { UsageError, parseCommand, requireOption } from './cli-args';

export const INFO_HELP = `Usage: gliner-tf info --model DIR [--json] [--backend NAME]

Describe a GLiNER model folder: the published family it matches, encoder and GLiNER sizes,
parameter count, weights format, tokenizer, and the backend it would run on here.

Options:
  --model DIR          GLiNER model folder (gliner_config.json, weights, tokenizer)  [required]
  --json               print one JSON object instead of text
  --backend NAME       auto | tensorflow | wasm | cpu: the backend to report      [default: auto]
  -h, --help           show this help

Exit status: 0 success, 1 the folder could not be read, 2 bad command line.`;

export interface WeightsSummary {
  file: string;
  format: 'safetensors' | 'pytorch';
  bytes: number;
  /** From the file's header (safetensors only; a torch checkpoint is not read whole for this). */
  tensors: number | null;
  parameters: number | null;
  /** Stored dtypes and their tensor counts (safetensors only). */
  dtypes: Record<string, number> | null;
}

export interface ModelInfo {
  model: string;
  family: { size: string; encoder: string; matches: string[]; exactVocab: boolean } | null;
  encoder: {
    name: string;
    layers: number;
    hidden: number;
    heads: number;
    intermediate: number;
    vocab: number;
    positionBuckets: number;
    maxPositionEmbeddings: number;
  };
  gliner: { hidden: number; maxWidth: number; maxLen: number; spanMode: string; rnnLayers: number; dropout: number; modelType: string };
  /** Parameters the config implies (what the model will allocate). */
  parameters: number;
  weights: WeightsSummary;
  tokenizer: { file: string; pieces: number; size: number; entToken: string; entId: number | null; sepToken: string; sepId: number | null };
  backend: BackendInfo;
}

/** Reads only the 8-byte length and the JSON header of a safetensors file. */
function safetensorsHeader(file: string): Record<string, { dtype?: string; shape?: number[] }> {
  const fd = fs.openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    if (fs.readSync(fd, len, 0, 8, 0) !== 8) throw new Error(`${file}: too short for a safetensors header`);
    const n = Number(len.readBigUInt64LE(0));
    if (n > 100 * 1024 * 1024) throw new Error(`${file}: safetensors header length ${n} is implausible`);
    const header = Buffer.alloc(n);
    if (fs.readSync(fd, header, 0, n, 8) !== n) throw new Error(`${file}: safetensors header runs past the end of the file`);
    const parsed: unknown = JSON.parse(header.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${file}: safetensors header is not a JSON object`);
    return parsed as Record<string, { dtype?: string; shape?: number[] }>;
  } catch (e) {
    if (e instanceof SyntaxError) throw new Error(`${file}: safetensors header is not valid JSON (${e.message})`);
    throw e;
  } finally {
    fs.closeSync(fd);
  }
}

function summariseWeights(file: string): WeightsSummary {
  const bytes = fs.statSync(file).size;
  const head = Buffer.alloc(Math.min(64, bytes));
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  const format = detectWeightsFormat(head, file) === 'torch' ? 'pytorch' : 'safetensors';
  if (format === 'pytorch') return { file, format, bytes, tensors: null, parameters: null, dtypes: null };
  let tensors = 0;
  let parameters = 0;
  const dtypes: Record<string, number> = {};
  for (const [name, t] of Object.entries(safetensorsHeader(file))) {
    if (name === '__metadata__') continue;
    tensors++;
    parameters += (t.shape ?? []).reduce((a, b) => a * b, 1);
    const d = String(t.dtype);
    dtypes[d] = (dtypes[d] ?? 0) + 1;
  }
  return { file, format, bytes, tensors, parameters, dtypes };
}

function encoderName(config: GlinerConfig, familyEncoder: string | undefined): string {
  return familyEncoder ? ENCODERS[familyEncoder as keyof typeof ENCODERS].id : config.modelName;
}

export async function collectModelInfo(pathOrId: string, backend: BackendPreference = 'auto', resolve: ResolveOptions = {}): Promise<ModelInfo> {
  // A local folder, or a hub id resolved into the cache exactly as GLiNER.fromPretrained does.
  const source = await resolveModelSource(pathOrId, resolve);
  const dir = source.modelDir;
  const config = readGlinerConfig(dir, source.encoderConfigDir);
  const tokenizer = loadTokenizerFromDir(source.tokenizerDir);
  reconcileTokenizer(config, tokenizer);
  const match = matchFamily(config);
  const enc = config.encoder;
  const tokenizerFile = fs.existsSync(path.join(source.tokenizerDir, 'spm.model')) ? 'spm.model' : 'tokenizer.json';
  return {
    model: dir,
    family: match ? { size: match.size, encoder: match.encoder, matches: match.families, exactVocab: match.exactVocab } : null,
    encoder: {
      name: encoderName(config, match?.encoder),
      layers: enc.numHiddenLayers,
      hidden: enc.hiddenSize,
      heads: enc.numAttentionHeads,
      intermediate: enc.intermediateSize,
      vocab: enc.vocabSize,
      positionBuckets: enc.positionBuckets,
      maxPositionEmbeddings: enc.maxPositionEmbeddings,
    },
    gliner: {
      hidden: config.hiddenSize,
      maxWidth: config.maxWidth,
      maxLen: config.maxLen,
      spanMode: config.spanMode,
      rnnLayers: config.numRnnLayers,
      dropout: config.dropout,
      modelType: config.modelType,
    },
    parameters: countParameters(glinerParameterShapes(config)),
    weights: summariseWeights(findWeightsFile(dir)),
    tokenizer: {
      file: tokenizerFile,
      pieces: tokenizer.model.pieceCount,
      size: tokenizer.vocabSize,
      entToken: config.entToken,
      entId: tokenizer.tokenToId(config.entToken) ?? null,
      sepToken: config.sepToken,
      sepId: tokenizer.tokenToId(config.sepToken) ?? null,
    },
    backend: await initBackend(backend),
  };
}

const int = (n: number) => n.toLocaleString('en-US');
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export function formatModelInfo(info: ModelInfo): string {
  const e = info.encoder;
  const g = info.gliner;
  const w = info.weights;
  const t = info.tokenizer;
  const family = info.family
    ? `${info.family.size} (same tensors as ${info.family.matches.join(', ')})${info.family.exactVocab ? '' : '; vocabulary size differs from the published one'}`
    : 'no published family has this architecture';
  const weightLine =
    w.format === 'safetensors'
      ? `${path.basename(w.file)}: safetensors, ${mb(w.bytes)}, ${w.tensors} tensors (${Object.entries(w.dtypes ?? {}).map(([d, n]) => `${n} ${d}`).join(', ')}), ${int(w.parameters ?? 0)} parameters`
      : `${path.basename(w.file)}: PyTorch zip checkpoint, ${mb(w.bytes)} (gliner-tf convert writes model.safetensors)`;
  const mismatch = w.parameters !== null && w.parameters !== info.parameters ? `  (the weights file holds ${int(w.parameters)}; extra tensors are ignored)` : '';
  const lines = [
    ['model', info.model],
    ['family', family],
    ['architecture', `${info.gliner.modelType}: ${SPAN_MODES[info.gliner.spanMode as SpanMode]?.description ?? info.gliner.spanMode}`],
    ['encoder', `${e.name}: ${e.layers} layers, hidden ${e.hidden}, ${e.heads} heads, intermediate ${e.intermediate}, position buckets ${e.positionBuckets}, max positions ${e.maxPositionEmbeddings}`],
    ['gliner', `hidden ${g.hidden}, max_width ${g.maxWidth}, max_len ${g.maxLen} words, span_mode ${g.spanMode}, ${g.rnnLayers} LSTM layer(s), dropout ${g.dropout}`],
    ['vocab', `${int(e.vocab)} embedding rows; tokenizer ${t.file}: ${int(t.pieces)} pieces, ${int(t.size)} ids; ${t.entToken}=${t.entId ?? 'missing'}, ${t.sepToken}=${t.sepId ?? 'missing'}`],
    ['parameters', `${int(info.parameters)} (${mb(info.parameters * 4)} as float32)${mismatch}`],
    ['weights', weightLine],
    ['backend', `${info.backend.name} (${info.backend.provider}), ${info.backend.threads === null ? 'threads: library default' : `${info.backend.threads} thread${info.backend.threads === 1 ? '' : 's'}`}`],
    ...(info.backend.matmul ? [['matmul', info.backend.matmul]] : []),
  ];
  return lines.map(([k, v]) => `${k.padEnd(11)} ${v}`).join('\n') + '\n';
}

export async function runInfo(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const values = parseCommand(argv, {
    model: { type: 'string' },
    json: { type: 'boolean' },
    backend: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    out.write(INFO_HELP + '\n');
    return;
  }
  const dir = requireOption(values, 'model');
  const backend = (values.backend ?? 'auto') as BackendPreference;
  if (!BACKEND_PREFERENCES.includes(backend)) throw new UsageError(`--backend must be one of ${BACKEND_PREFERENCES.join(', ')}, got '${backend}'`);
  const info = await collectModelInfo(dir, backend);
  out.write(values.json ? JSON.stringify(info, null, 2) + '\n' : formatModelInfo(info));
}
