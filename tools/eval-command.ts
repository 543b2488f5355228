/**
 * `gliner-tf eval`: precision, recall and F1 of a model on an annotated file (exact span and
 * label matches, micro-averaged, plus per label), as upstream's GLiNER.evaluate scores them.
 */
import * as fs from 'fs';
import { GLiNER } from '../src/gliner';
import { BackendPreference } from '../src/backend';
import { describeRoutineSkips, readTrainingFile } from '../src/training/data';
import { isWordSplitterName } from '../src/processing/word-splitter';
import { EvalMetrics, evaluateExamples } from '../src/training/evaluate';
import { UsageError, numberOption, parseCommand, requireOption } from './cli-args';

export const EVAL_HELP = `Usage: gliner-tf eval --model DIR --data FILE [options]

Score a GLiNER model on annotated data (GLiNER JSON/JSONL, Pile-NER or NuNER files).
A prediction counts when its words and label match a gold entity exactly. Per-type files
(one record per text and entity type, as Universal-NER's CrossNER / MIT files) are merged by
text: each text is prompted with the types its records asked about and scored once.

Options:
  --model DIR          GLiNER model folder                                         [required]
  --data FILE          annotated data                                              [required]
  --labels LIST        comma-separated entity types to prompt (default: every type in the data)
  --threshold X        span probability threshold, in [0, 1]                        [default: 0.5]
  --nested             allow nested predictions (default: flat)
  --batch-size N       texts per forward pass                                      [default: 8]
  --skip-bad           skip malformed records instead of failing
  --strict             fail on NuNER rows with an empty output (default: skipped and counted)
  --word-splitter NAME regex | intl, for Pile-NER / NuNER raw texts                [default: regex]
  --backend NAME       auto | tensorflow | wasm | cpu                              [default: auto]
  --json               print the metrics as JSON
  -h, --help           show this help

Example:
  gliner-tf eval --model fixtures/models/demo --data fixtures/data/synthetic-dev.jsonl --threshold 0.5`;

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}`.padStart(6);
}

export function formatMetricsTable(m: EvalMetrics): string {
  const width = Math.max(5, ...Object.keys(m.perLabel).map((l) => l.length));
  const row = (name: string, x: { precision: number; recall: number; f1: number; support: number }) =>
    `${name.padEnd(width)}  ${pct(x.precision)}  ${pct(x.recall)}  ${pct(x.f1)}  ${String(x.support).padStart(7)}`;
  const lines = [`${'label'.padEnd(width)}  ${'P'.padStart(6)}  ${'R'.padStart(6)}  ${'F1'.padStart(6)}  ${'support'.padStart(7)}`];
  for (const [label, x] of Object.entries(m.perLabel)) lines.push(row(label, x));
  lines.push(row('micro', m));
  return lines.join('\n');
}

export async function runEval(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const values = parseCommand(argv, {
    model: { type: 'string' },
    data: { type: 'string' },
    labels: { type: 'string' },
    threshold: { type: 'string' },
    nested: { type: 'boolean' },
    'batch-size': { type: 'string' },
    'skip-bad': { type: 'boolean' },
    strict: { type: 'boolean' },
    'word-splitter': { type: 'string' },
    backend: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    out.write(EVAL_HELP + '\n');
    return;
  }
  const modelDir = requireOption(values, 'model');
  const dataFile = requireOption(values, 'data');
  const threshold = numberOption(values, 'threshold', 0.5, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  const batchSize = numberOption(values, 'batch-size', 8, (v) => Number.isInteger(v) && v >= 1, 'a positive integer');
  let labels: string[] | undefined;
  if (values.labels !== undefined) {
    labels = String(values.labels).split(',').map((l) => l.trim()).filter((l) => l !== '');
    if (labels.length === 0) throw new UsageError('--labels must name at least one entity type');
  }
  const backend = (values.backend ?? 'auto') as BackendPreference;
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(backend)) throw new UsageError(`--backend must be auto, tensorflow, wasm or cpu, got '${backend}'`);
  if (!fs.existsSync(dataFile)) throw new Error(`${dataFile}: no such file`);
  const splitter = values['word-splitter'] ?? 'regex';
  if (!isWordSplitterName(splitter)) throw new UsageError(`--word-splitter must be regex or intl, got '${String(splitter)}'`);
  const data = await readTrainingFile(dataFile, { skipBad: Boolean(values['skip-bad']), strict: Boolean(values.strict), wordSplitter: splitter });
  if (data.examples.length === 0) throw new Error(`${dataFile}: no examples`);
  if (data.skipped) process.stderr.write(`gliner-tf eval: skipped ${data.skipped} bad record(s)\n`);
  const routine = describeRoutineSkips(data.routineSkips);
  if (routine) process.stderr.write(`gliner-tf eval: ${data.examples.length} examples, ${routine}; --strict makes them errors\n`);

  const model = await GLiNER.fromPretrained(modelDir, { backend, onWarning: (m) => process.stderr.write(`gliner-tf eval: ${m}\n`) });
  try {
    const m = await evaluateExamples(model, data.examples, { threshold, flatNer: !values.nested, batchSize, labels });
    if (values.json) {
      out.write(
        JSON.stringify({
          precision: m.precision,
          recall: m.recall,
          f1: m.f1,
          tp: m.tp,
          fp: m.fp,
          fn: m.fn,
          examples: m.numExamples,
          records: m.numRecords ?? m.numExamples,
          threshold,
          per_label: m.perLabel,
        }) + '\n',
      );
    } else {
      const merged = m.numRecords !== undefined && m.numRecords !== m.numExamples ? ` (${m.numRecords} per-type records merged by text)` : '';
      out.write(`${m.numExamples} examples${merged}, threshold ${threshold}\n${formatMetricsTable(m)}\n`);
    }
  } finally {
    model.dispose();
  }
}
