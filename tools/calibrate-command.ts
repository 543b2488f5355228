/**
 * `gliner-tf calibrate`: per-label thresholds (and a global fallback) that maximise F1 on
 * annotated dev data, written to a thresholds file for `predict --thresholds`; prints F1 before
 * and after, and how the dynamic threshold rules do on the same data.
 */
import * as fs from 'fs';
import { GLiNER } from '../src/gliner';
import { BackendPreference } from '../src/backend';
import { readTrainingFile } from '../src/training/data';
import { calibrateThresholds, collectCandidates } from '../src/training/calibrate';
import { writeFileAtomic } from '../src/io/atomic-write';
import { jsonBytes } from '../src/training/checkpoint';
import { isWordSplitterName } from '../src/processing/word-splitter';
import { UsageError, numberOption, parseCommand, requireOption } from './cli-args';

export const CALIBRATE_HELP = `Usage: gliner-tf calibrate --model DIR --data dev.json --output thresholds.json [options]

Choose a threshold per entity type (and a global fallback) that maximises micro F1 on annotated
data, and write them for 'gliner-tf predict --thresholds FILE' (or the API's thresholds option).
The F1 printed is measured on the same data: check it on data you did not calibrate on.

Options:
  --model DIR          GLiNER model folder                                         [required]
  --data FILE          annotated dev data (GLiNER JSON/JSONL, Pile-NER, NuNER)      [required]
  --output FILE        thresholds file to write (atomically)                       [required]
  --labels LIST        comma-separated entity types (default: every type in the data)
  --baseline X         the threshold reported as "before"                          [default: 0.5]
  --nested             decode nested entities (default: flat)
  --word-splitter NAME regex | intl, for Pile-NER / NuNER raw texts                [default: regex]
  --batch-size N       texts per forward pass                                      [default: 8]
  --backend NAME       auto | tensorflow | wasm | cpu                              [default: auto]
  --json               print the report as JSON
  -h, --help           show this help

Example:
  gliner-tf calibrate --model runs/ft/final --data dev.json --output thresholds.json
  gliner-tf predict --model runs/ft/final --thresholds thresholds.json --labels person,org --text "..."`;

export async function runCalibrate(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const values = parseCommand(argv, {
    model: { type: 'string' },
    data: { type: 'string' },
    output: { type: 'string' },
    labels: { type: 'string' },
    baseline: { type: 'string' },
    nested: { type: 'boolean' },
    'word-splitter': { type: 'string' },
    'batch-size': { type: 'string' },
    backend: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    out.write(CALIBRATE_HELP + '\n');
    return;
  }
  const modelDir = requireOption(values, 'model');
  const dataFile = requireOption(values, 'data');
  const output = requireOption(values, 'output');
  const baseline = numberOption(values, 'baseline', 0.5, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  const batchSize = numberOption(values, 'batch-size', 8, (v) => Number.isInteger(v) && v >= 1, 'a positive integer');
  const splitter = (values['word-splitter'] ?? 'regex') as string;
  if (!isWordSplitterName(splitter)) throw new UsageError(`--word-splitter must be regex or intl, got '${splitter}'`);
  let labels: string[] | undefined;
  if (values.labels !== undefined) {
    labels = String(values.labels).split(',').map((l) => l.trim()).filter((l) => l !== '');
    if (labels.length === 0) throw new UsageError('--labels must name at least one entity type');
  }
  const backend = (values.backend ?? 'auto') as BackendPreference;
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(backend)) throw new UsageError(`--backend must be auto, tensorflow, wasm or cpu, got '${backend}'`);
  if (!fs.existsSync(dataFile)) throw new Error(`${dataFile}: no such file`);
  const data = await readTrainingFile(dataFile, { wordSplitter: splitter });
  if (data.examples.length === 0) throw new Error(`${dataFile}: no examples`);

  const model = await GLiNER.fromPretrained(modelDir, { backend, onWarning: (m) => process.stderr.write(`gliner-tf calibrate: ${m}\n`) });
  try {
    const set = await collectCandidates(model, data.examples, { labels, batchSize });
    const r = calibrateThresholds(set, { baseline, flatNer: !values.nested });
    const report = {
      threshold: r.threshold,
      thresholds: r.thresholds,
      calibration: { data: dataFile, model: modelDir, examples: r.examples, before: r.before, global_only: r.globalOnly, after: r.after, dynamic: r.dynamic },
    };
    await writeFileAtomic(output, jsonBytes(report));
    if (values.json) {
      out.write(JSON.stringify(report) + '\n');
      return;
    }
    const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
    const lines = [
      `${r.examples} examples`,
      `F1 before (threshold ${baseline}): ${pct(r.before.f1)}`,
      `F1 with the best global threshold ${r.threshold}: ${pct(r.globalOnly.f1)}`,
      `F1 after (per-label thresholds): ${pct(r.after.f1)}`,
      ...Object.keys(r.thresholds).map((l) => `  ${l}: threshold ${r.thresholds[l]}  F1 ${pct(r.before.perLabel[l] ?? 0)} -> ${pct(r.after.perLabel[l] ?? 0)}`),
      'dynamic thresholds on the same data:',
      ...r.dynamic.map((d) => `  ${d.setting}: F1 ${pct(d.f1)}`),
      `wrote ${output}`,
    ];
    out.write(lines.join('\n') + '\n');
  } finally {
    model.dispose();
  }
}
