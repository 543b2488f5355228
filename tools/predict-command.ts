/**
 * `gliner-tf predict`: entities for a text, a text file (one text per line) or a JSONL file
 * ({"text": ..., "labels": [...]} per line); one JSON line per text on stdout or --output.
 */
import * as fs from 'fs';
import { GLiNER, LabelSpec, PredictOptions } from '../src/gliner';
import { isDescriptionMap } from '../src/processing/label-descriptions';
import { isWordSplitterName } from '../src/processing/word-splitter';
import { readThresholdsFile } from '../src/io/thresholds-file';
import { BackendPreference } from '../src/backend';
import { ProgressBar } from '../src/util/progress';
import { openAtomicFileStream } from '../src/io/atomic-stream';
import { DEFAULT_MAX_LINE_BYTES, readFileLines } from '../src/io/line-reader';
import { runPredictStream } from '../src/pipeline/predict-stream';
import { PredictPool } from '../src/parallel/predict-pool';
import { UsageError, numberOption, parseCommand, requireOption } from './cli-args';
import { OUTPUT_FORMATS, createResultWriter, isOutputFormat } from '../src/output/formats';

export const PREDICT_HELP = `Usage: gliner-tf predict --model DIR --labels "person,award,date" (--text "..." | --input FILE) [options]

Find entities of the given types in text.

Input (one of):
  --text TEXT          a single text
  --input FILE         a text file, one text per line, or JSONL with {"text": ..., "labels": [...]}
                       per line (a line's "labels" override --labels); "-" reads standard input;
                       gzip input is read as such. Read and written as a stream

Options:
  --model DIR|REPO     GLiNER model folder (gliner_config.json, model.safetensors or
                       pytorch_model.bin, spm.model), or a Hugging Face repo id such as
                       urchade/gliner_small-v2.1 (downloaded to the hub cache)    [required]
  --revision REV       hub branch, tag or commit                                  [default: main]
  --cache-dir DIR      hub cache (default $HF_HUB_CACHE or ~/.cache/huggingface/hub)
  --offline            use the hub cache only (same as HF_HUB_OFFLINE=1)
  --labels LIST        comma-separated entity types (required unless every JSONL line has labels)
  --labels-file FILE   JSON labels: ["person", ...] or {"person": "first name and surname of a
                       person", ...} (the description is prompted, the key is returned)
  --threshold X        keep spans with probability above X, in [0, 1]              [default: 0.5]
  --thresholds FILE    per-label thresholds (from 'gliner-tf calibrate'); its "threshold" is
                       the fallback unless --threshold is given
  --relative-threshold R  keep a span only if its score >= R x its label's best in the text
  --top-k K            keep at most K spans per label per text
  --word-splitter NAME regex (upstream's) | intl (Intl.Segmenter: Chinese, Japanese, Thai...)
  --nested             allow nested entities (default: flat, no overlaps)
  --multi-label        allow several labels on the same span
  --merge-adjacent     join touching entities of the same label (for word-level
                       models such as numind/NuNER_Zero)
  --batch-size N       texts per forward pass                                      [default: 8]
  --format NAME        jsonl | json | conll | spacy | html                        [default: jsonl]
                       (conll: word<TAB>BIO tag; spacy: Doc JSON lines; html: a page that
                       highlights entities with a colour per label and a legend)
  --output FILE        write results to FILE instead of standard output (streamed to a
                       temporary file, renamed into place when complete)
  --max-line-bytes N   longest input line accepted (after gzip)                [default: 16 MiB]
  --backend NAME       auto | tensorflow | wasm | cpu                              [default: auto]
  --workers N          predict in N worker processes, each with its own model and
                       cores / N wasm threads; output order is input order (see README,
                       "Scaling out")                                [default: this process]
  --worker-kind KIND   process | thread (worker_threads)                     [default: process]
  --threads-per-worker N  wasm threads per worker            [default: max(1, cores / N)]
  --quiet              no progress bar or warnings on standard error
  -h, --help           show this help

Output (jsonl): one JSON line per input text: {"text": ..., "entities": [{"start", "end", "text",
"label", "score"}]} with start/end as character offsets (UTF-16, end exclusive) into the text.

Example:
  gliner-tf predict --model fixtures/models/demo --labels person,organization,city,date \\
    --text "Kalo Dorvasel joined Tavosel Labs in Mirenburg on 4 May 2021."`;

/** --labels-file: a JSON list of labels or an object of label -> description. */
function readLabelsFile(file: string): LabelSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${file}: ${code ? `cannot read (${code})` : `invalid JSON (${(e as Error).message})`}`);
  }
  const ok = Array.isArray(raw) ? raw.length > 0 && raw.every((l) => typeof l === 'string' && l.trim() !== '') : isDescriptionMap(raw) && Object.keys(raw).length > 0;
  if (!ok) throw new Error(`${file}: expected a non-empty JSON list of labels or an object of "label": "description"`);
  if (!Array.isArray(raw)) {
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      if (typeof v !== 'string' && v !== null) throw new Error(`${file}: the description of label '${k}' must be a string`);
    }
  }
  return raw as LabelSpec;
}

function labelNames(spec: LabelSpec): string[] {
  return Array.isArray(spec) ? [...spec] : Object.keys(spec);
}

/** --thresholds FILE, --relative-threshold, --top-k, --word-splitter as predict options. */
function thresholdFlags(values: Record<string, string | boolean | undefined>): PredictOptions {
  const o: PredictOptions = {};
  if (values.thresholds !== undefined) {
    const file = readThresholdsFile(values.thresholds as string);
    o.thresholds = file.thresholds;
    if (values.threshold === undefined && file.threshold !== undefined) o.threshold = file.threshold;
  }
  if (values['relative-threshold'] !== undefined) o.relativeThreshold = numberOption(values, 'relative-threshold', 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  if (values['top-k'] !== undefined) o.topK = numberOption(values, 'top-k', 1, (v) => Number.isInteger(v) && v >= 1, 'a positive integer');
  if (values['word-splitter'] !== undefined) {
    const w = values['word-splitter'];
    if (!isWordSplitterName(w)) throw new UsageError(`--word-splitter must be regex or intl, got '${String(w)}'`);
    o.wordSplitter = w;
  }
  return o;
}

interface InputRecord {
  text: string;
  labels?: string[];
  /** FILE:LINE, for messages. */
  where?: string;
}

function parseLabels(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const labels = raw.split(',').map((l) => l.trim()).filter((l) => l !== '');
  if (labels.length === 0) throw new UsageError('--labels must name at least one entity type');
  return labels;
}

/** Lines of the input as records; JSONL when the first non-empty line is a JSON object. */
async function* readInput(file: string, maxLineBytes: number): AsyncGenerator<InputRecord> {
  const name = file === '-' ? '<stdin>' : file;
  let jsonl: boolean | null = null;
  for await (const { text: line, lineNo } of readFileLines(file, { name, maxLineBytes })) {
    if (jsonl === null && line.trim() !== '') jsonl = line.trimStart().startsWith('{');
    if (!jsonl) {
      yield { text: line, where: `${name}:${lineNo}` };
      continue;
    }
    if (line.trim() === '') continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw new Error(`${name}:${lineNo}: invalid JSON (${(e as Error).message})`);
    }
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) throw new Error(`${name}:${lineNo}: expected a JSON object`);
    const r = rec as Record<string, unknown>;
    if (typeof r.text !== 'string') throw new Error(`${name}:${lineNo}: key "text" must be a string`);
    if (r.labels !== undefined && (!Array.isArray(r.labels) || !r.labels.every((l) => typeof l === 'string'))) {
      throw new Error(`${name}:${lineNo}: key "labels" must be a list of strings`);
    }
    if (Array.isArray(r.labels) && r.labels.length === 0) throw new Error(`${name}:${lineNo}: key "labels" is an empty list (drop the key to use --labels)`);
    yield { text: r.text, labels: r.labels as string[] | undefined, where: `${name}:${lineNo}` };
  }
}

/** Writes to a stream, waiting when its buffer is full (so a slow reader bounds our memory). */
function streamWriter(out: NodeJS.WritableStream): (text: string) => Promise<void> {
  return (text) =>
    new Promise((resolve, reject) => {
      if (text === '') return resolve();
      const ok = out.write(text, (e) => (e ? reject(e) : undefined));
      if (ok) resolve();
      else out.once('drain', () => resolve());
    });
}

/** Characters of text predicted per group, whatever --batch-size says (memory bound). */
export const MAX_GROUP_CHARS = 4 * 1024 * 1024;

export async function runPredict(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const values = parseCommand(argv, {
    model: { type: 'string' },
    labels: { type: 'string' },
    text: { type: 'string' },
    input: { type: 'string' },
    threshold: { type: 'string' },
    'labels-file': { type: 'string' },
    thresholds: { type: 'string' },
    'relative-threshold': { type: 'string' },
    'top-k': { type: 'string' },
    'word-splitter': { type: 'string' },
    nested: { type: 'boolean' },
    'multi-label': { type: 'boolean' },
    'merge-adjacent': { type: 'boolean' },
    'batch-size': { type: 'string' },
    output: { type: 'string' },
    format: { type: 'string' },
    backend: { type: 'string' },
    revision: { type: 'string' },
    'cache-dir': { type: 'string' },
    offline: { type: 'boolean' },
    quiet: { type: 'boolean' },
    'max-line-bytes': { type: 'string' },
    workers: { type: 'string' },
    'worker-kind': { type: 'string' },
    'threads-per-worker': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    out.write(PREDICT_HELP + '\n');
    return;
  }
  const modelDir = requireOption(values, 'model');
  if (values.labels !== undefined && values['labels-file'] !== undefined) throw new UsageError('give --labels or --labels-file, not both');
  const labels: LabelSpec | undefined = values['labels-file'] !== undefined ? readLabelsFile(values['labels-file'] as string) : parseLabels(values.labels as string | undefined);
  if ((values.text === undefined) === (values.input === undefined)) throw new UsageError('give exactly one of --text or --input');
  if (values.text !== undefined && !labels) throw new UsageError('--labels is required with --text');
  const options: PredictOptions = {
    threshold: numberOption(values, 'threshold', 0.5, (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
    flatNer: !values.nested,
    multiLabel: Boolean(values['multi-label']),
    mergeAdjacent: Boolean(values['merge-adjacent']),
    batchSize: numberOption(values, 'batch-size', 8, (v) => Number.isInteger(v) && v >= 1, 'a positive integer'),
    ...thresholdFlags(values),
  };
  const backend = (values.backend ?? 'auto') as BackendPreference;
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(backend)) throw new UsageError(`--backend must be auto, tensorflow, wasm or cpu, got '${backend}'`);
  const format = (values.format ?? 'jsonl') as string;
  if (!isOutputFormat(format)) throw new UsageError(`--format must be one of ${OUTPUT_FORMATS.join(', ')}, got '${format}'`);
  const maxLineBytes = numberOption(values, 'max-line-bytes', DEFAULT_MAX_LINE_BYTES, (v) => Number.isInteger(v) && v >= 1, 'a positive integer');
  const quiet = Boolean(values.quiet);
  if (values.text === undefined && values.input === '-' && process.stdin.isTTY && !quiet) {
    process.stderr.write('gliner-tf: reading texts from standard input (Ctrl-D to end)\n');
  }

  const loadOptions = {
    revision: values.revision as string | undefined,
    cacheDir: values['cache-dir'] as string | undefined,
    localFilesOnly: Boolean(values.offline),
    quiet,
  };
  // --workers: a pool of worker processes predicts; this process only reads and writes.
  const pool = values.workers === undefined ? null : await startPool(values, modelDir, backend, loadOptions);
  const model = pool ? null : await GLiNER.fromPretrained(modelDir, { backend, onWarning: quiet ? () => {} : undefined, ...loadOptions });
  // Results go out as each group is done (html holds them for its page, see createResultWriter).
  const sink = values.output ? await openAtomicFileStream(values.output as string) : null;
  try {
    const records: AsyncIterable<InputRecord> | InputRecord[] =
      values.text !== undefined ? [{ text: values.text as string }] : readInput(values.input as string, maxLineBytes);
    const progress = new ProgressBar('predict', undefined, { quiet: quiet || values.text !== undefined, unit: 'texts' });
    let index = 0;
    await runPredictStream({
      records,
      // Enough texts per call for length-sorted batching to pay off, few enough to stream.
      limits: { maxRecords: Math.max(64, options.batchSize! * 8), maxChars: MAX_GROUP_CHARS },
      predict: (group) => {
        const perText = group.map((r, i) => {
          const l = r.labels ?? labels;
          if (!l) throw new UsageError(`${r.where ? `${r.where}: ` : ''}text ${index + i + 1} has no labels: pass --labels or give "labels" in the JSONL line`);
          return l;
        });
        index += group.length;
        const texts = group.map((r) => r.text);
        if (pool) return pool.predict(texts, perText, options, group.map((r, i) => r.where ?? `text ${index - group.length + i + 1}`));
        return model!.batchPredictEntities(texts, perText, options);
      },
      // Two groups per worker keep every worker busy while results are written in order.
      concurrency: pool ? pool.size * 2 : 1,
      writer: createResultWriter(format, { labels: labels && labelNames(labels), title: values.input ? `gliner-tf: ${values.input}` : undefined }),
      write: sink ? (t) => sink.write(t) : streamWriter(out),
      onGroup: (n) => progress.update(n),
    });
    progress.finish();
    await sink?.commit();
  } catch (e) {
    await sink?.abort();
    throw e;
  } finally {
    model?.dispose();
    await pool?.close();
  }
}

async function startPool(values: Record<string, unknown>, modelDir: string, backend: BackendPreference, load: object): Promise<PredictPool> {
  const workers = numberOption(values, 'workers', 1, (v) => Number.isInteger(v) && v >= 1 && v <= 256, 'an integer in [1, 256]');
  const kind = (values['worker-kind'] ?? 'process') as string;
  if (kind !== 'process' && kind !== 'thread') throw new UsageError(`--worker-kind must be process or thread, got '${kind}'`);
  const threads = values['threads-per-worker'] === undefined
    ? undefined
    : numberOption(values, 'threads-per-worker', 1, (v) => Number.isInteger(v) && v >= 1 && v <= 8, 'an integer in [1, 8]');
  return PredictPool.start({ model: modelDir, workers, kind, threadsPerWorker: threads, backend, ...load });
}
