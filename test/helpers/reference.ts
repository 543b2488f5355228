/**
 * Access to the golden reference folders under fixtures/reference/ (produced by upstream
 * Python GLiNER; see fixtures/reference/README.md). Tests iterate every folder that has
 * expected outputs, so adding a folder adds coverage without touching the tests.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors } from '../../src/io/safetensors';
import { TensorMap } from '../../src/io/host-tensor';

export const REFERENCE_ROOT = path.join(__dirname, '..', '..', 'fixtures', 'reference');

/**
 * Folders searched for reference models: fixtures/reference, or the colon-separated list in
 * GLINER_TF_REFERENCE_DIRS (e.g. `GLINER_TF_REFERENCE_DIRS=../shared/reference npm test` checks
 * parity on reference sets this repository does not ship).
 */
export function referenceRoots(): string[] {
  const env = process.env.GLINER_TF_REFERENCE_DIRS;
  return env ? env.split(path.delimiter).filter(Boolean).map((d) => path.resolve(d)) : [REFERENCE_ROOT];
}

export interface ReferenceEntity {
  start: number;
  end: number;
  text: string;
  label: string;
  score: number;
}

export interface ReferenceCase {
  name: string;
  texts: string[];
  labels: string[] | string[][];
  valid_to_orig_idx: number[];
  words: [string, number, number][][];
  tokens_as_model_sees: string[][];
  tensor_prefix: string;
  id_to_classes: Record<string, string> | Record<string, string>[];
  input_ids: number[][];
  attention_mask: number[][];
  words_mask: number[][];
  text_lengths: number[];
  logits_shape: number[];
  /** Per decoding setting; `{error}` where upstream itself raises (see fixtures/reference/README.md). */
  predictions: Record<string, ReferenceEntity[][] | { error: string; why?: string }>;
  /** Token-level folders: the decoder's output before character mapping, per kept text. */
  decoded_word_spans?: Record<string, [number, number, string, number][][]>;
}

export interface ReferenceModel {
  name: string;
  dir: string;
  cases: ReferenceCase[];
  tensors: TensorMap;
}

/** Folders holding a reference model with expected outputs. */
export function referenceModelDirs(): string[] {
  const dirs = referenceRoots().flatMap((root) => {
    if (fs.existsSync(path.join(root, 'expected_inference.json'))) return [root];
    return fs.readdirSync(root).map((d) => path.join(root, d));
  });
  const found = dirs.filter((d) => fs.existsSync(path.join(d, 'expected_inference.json'))).sort();
  if (found.length === 0) throw new Error(`no reference models (folders with expected_inference.json) under ${referenceRoots().join(', ')}`);
  return found;
}

export function loadReference(dir: string): ReferenceModel {
  const inference = JSON.parse(fs.readFileSync(path.join(dir, 'expected_inference.json'), 'utf8'));
  const { tensors } = readSafetensors(fs.readFileSync(path.join(dir, 'expected_tensors.safetensors')), dir);
  return { name: path.basename(dir), dir, cases: inference.cases, tensors };
}

/** The 8 decoding settings, parsed from keys like `thr=0.3|flat_ner=True|multi_label=False`. */
export function parseSettingKey(key: string): { threshold: number; flatNer: boolean; multiLabel: boolean } {
  const parts = Object.fromEntries(key.split('|').map((kv) => kv.split('=')));
  return { threshold: Number(parts.thr), flatNer: parts.flat_ner === 'True', multiLabel: parts.multi_label === 'True' };
}

/** Python code-point offset -> JavaScript UTF-16 offset in `text`. */
export function codePointToUtf16(text: string, cp: number): number {
  let units = 0;
  let seen = 0;
  for (const ch of text) {
    if (seen === cp) return units;
    units += ch.length;
    seen++;
  }
  if (seen === cp) return units;
  throw new Error(`code point offset ${cp} is past the end of a ${seen}-code-point text`);
}

/**
 * Append a measured difference to the JSON-lines file named by GLINER_TF_PARITY_REPORT (no-op
 * otherwise), so a run can report the worst diffs per folder and backend.
 */
export function recordMeasurement(folder: string, backend: string, metric: string, value: number): void {
  const file = process.env.GLINER_TF_PARITY_REPORT;
  if (file) fs.appendFileSync(file, JSON.stringify({ folder, backend, metric, value }) + '\n');
}
