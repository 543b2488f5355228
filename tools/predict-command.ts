/**
 * `gliner-tf predict`: entities for a text, a text file (one text per line) or a JSONL file
 * ({"text": ..., "labels": [...]} per line); one JSON line per text on stdout or --output.
 */
import * as fs from 'fs';
import * as readline from 'readline';
import { GLiNER, LabelSpec, PredictOptions } from '../src/gliner';
import { isDescriptionMap } from '../src/processing/label-descriptions';
import { isWordSplitterName } from '../src/processing/word-splitter';
import { readThresholdsFile } from '../src/io/thresholds-file';
import { BackendPreference } from '../src/backend';
import { ProgressBar } from '../src/util/progress';
import { writeFileAtomic } from '../src/io/atomic-write';
import { UsageError, numberOption, parseCommand, requireOption } from './cli-args';
import { OUTPUT_FORMATS, ResultRecord, formatResults, isOutputFormat } from '../src/output/formats';

export const PREDICT_HELP = `Usage: gliner-tf predict --model DIR --labels "person,award,date" (--text "..." | --input FILE) [options]

Find entities of the given types in text.

Input (one of):
  --text TEXT          a single text
  --input FILE         a text file, one text per line, or JSONL with {"text": ..., "labels": [...]}
                       per line (a line's "labels" override --labels); "-" reads standard input

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
  --batch-size N       texts per forward pass                                      [default: 8]
  --format NAME        jsonl | json | conll | spacy | html                        [default: jsonl]
                       (conll: word<TAB>BIO tag; spacy: Doc JSON lines; html: a page that
                       highlights entities with a colour per label and a legend)
  --output FILE        write results to FILE (atomically) instead of standard output
  --backend NAME       auto | tensorflow | wasm | cpu                              [default: auto]
  --quiet              no progress bar or warnings on standard error
  -h, --help           show this help

Output (jsonl): one JSON line per input text: {"text": ..., "entities": [{"start", "end", "text",
"label", "score"}]} with start/end as character offsets (UTF-16, end exclusive) into the text.

Example:
  gliner-tf predict --model fixtures/models/tiny --labels person,city --text "Alice moved to Paris."`;

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
}

function parseLabels(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const labels = raw.split(',').map((l) => l.trim()).filter((l) => l !== '');
  if (labels.length === 0) throw new UsageError('--labels must name at least one entity type');
  return labels;
}

/** Lines of the input as records; JSONL when the first non-empty line is a JSON object. */
async function* readInput(file: string): AsyncGenerator<InputRecord> {
  const name = file === '-' ? '<stdin>' : file;
  let stream: NodeJS.ReadableStream;
  if (file === '-') stream = process.stdin;
  else {
    if (!fs.existsSync(file)) throw new Error(`${file}: no such file`);
    stream = fs.createReadStream(file, 'utf8');
  }
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  let jsonl: boolean | null = null;
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (jsonl === null && line.trim() !== '') jsonl = line.trimStart().startsWith('{');
    if (!jsonl) {
      yield { text: line };
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
    yield { text: r.text, labels: r.labels as string[] | undefined };
  }
}

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
    'batch-size': { type: 'string' },
    output: { type: 'string' },
    format: { type: 'string' },
    backend: { type: 'string' },
    revision: { type: 'string' },
    'cache-dir': { type: 'string' },
    offline: { type: 'boolean' },
    quiet: { type: 'boolean' },
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
    batchSize: numberOption(values, 'batch-size', 8, (v) => Number.isInteger(v) && v >= 1, 'a positive integer'),
    ...thresholdFlags(values),
  };
  const backend = (values.backend ?? 'auto') as BackendPreference;
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(backend)) throw new UsageError(`--backend must be auto, tensorflow, wasm or cpu, got '${backend}'`);
  const format = (values.format ?? 'jsonl') as string;
  if (!isOutputFormat(format)) throw new UsageError(`--format must be one of ${OUTPUT_FORMATS.join(', ')}, got '${format}'`);
  // jsonl, conll and spacy are written as texts are done; json and html need every result first.
  const streaming = format === 'jsonl' || format === 'conll' || format === 'spacy';
  const quiet = Boolean(values.quiet);
  if (values.text === undefined && values.input === '-' && process.stdin.isTTY && !quiet) {
    process.stderr.write('gliner-tf: reading texts from standard input (Ctrl-D to end)\n');
  }

  const model = await GLiNER.fromPretrained(modelDir, {
    backend,
    onWarning: quiet ? () => {} : undefined,
    revision: values.revision as string | undefined,
    cacheDir: values['cache-dir'] as string | undefined,
    localFilesOnly: Boolean(values.offline),
    quiet,
  });
  const chunks: string[] = [];
  const emit = (line: string) => (values.output ? chunks.push(line) : out.write(line));
  const held: ResultRecord[] = [];
  try {
    const records: AsyncIterable<InputRecord> | InputRecord[] =
      values.text !== undefined ? [{ text: values.text as string }] : readInput(values.input as string);
    const progress = new ProgressBar('predict', undefined, { quiet: quiet || values.text !== undefined, unit: 'texts' });
    let pending: InputRecord[] = [];
    let index = 0;
    const flush = async () => {
      const perText = pending.map((r, i) => {
        const l = r.labels ?? labels;
        if (!l) throw new UsageError(`text ${index + i + 1} has no labels: pass --labels or give "labels" in the JSONL line`);
        return l;
      });
      const results = await model.batchPredictEntities(pending.map((r) => r.text), perText, options);
      const records = results.map((entities, i) => ({ text: pending[i].text, entities }));
      if (streaming) emit(formatResults(records, format));
      else held.push(...records);
      index += pending.length;
      progress.update(pending.length);
      pending = [];
    };
    // Enough texts per call for length-sorted batching to pay off, few enough to stream.
    const window = Math.max(64, options.batchSize! * 8);
    for await (const r of records) {
      pending.push(r);
      if (pending.length >= window) await flush();
    }
    if (pending.length) await flush();
    progress.finish();
    if (!streaming) emit(formatResults(held, format, { labels: labels && labelNames(labels), title: values.input ? `gliner-tf: ${values.input}` : undefined }));
    if (values.output) await writeFileAtomic(values.output as string, Buffer.from(chunks.join(''), 'utf8'));
  } finally {
    model.dispose();
  }
}
