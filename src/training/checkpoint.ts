/**
 * Checkpoints in upstream GLiNER's folder layout, written so that a crash never leaves a
 * half-written checkpoint behind:
 *
 *   <output>/checkpoint-<step>/
 *     gliner_config.json        the model config (upstream keys, encoder config embedded)
 *     model.safetensors         weights, upstream parameter names and shapes
 *     spm.model, added_tokens.json, tokenizer_config.json, special_tokens_map.json (tokenizer)
 *     optimizer.safetensors     AdamW moments (variable layout) + host state in the metadata
 *     trainer_state.json        step, data position, best metric, train config, eval history
 *
 * The folder is written as `checkpoint-<step>.tmp-<pid>-<random>` (each file itself via temp file
 * + rename) and renamed into place at the end, so `checkpoint-<step>` either does not exist or is
 * complete; rotation renames a folder away before deleting it. Leftovers of a killed run are
 * cleared by `cleanStaleTemp`.
 * A model-only folder (no optimizer or trainer state) loads with GLiNER.fromPretrained as well.
 */
import * as fs from 'fs';
import * as path from 'path';
import { GlinerConfig, glinerConfigToJson } from '../config';
import { TensorMap } from '../io/host-tensor';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { cleanStaleTemp, removeFolderAtomic, writeFileAtomic, writeFolderAtomic } from '../io/atomic-write';
import { AdamWStateMeta } from './optimizer';
import { BatchPlannerState } from './data';
import { EMA_FILE, EmaState } from './ema';

export const CHECKPOINT_PREFIX = 'checkpoint-';
export const TRAINER_STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const MODEL_FILE = 'model.safetensors';
export const CONFIG_FILE = 'gliner_config.json';

/** Tokenizer files a GLiNER folder carries (those present are copied). */
export const TOKENIZER_FILES = ['spm.model', 'tokenizer.json', 'added_tokens.json', 'tokenizer_config.json', 'special_tokens_map.json'] as const;

/** File name -> bytes. */
export type FileSet = Map<string, Uint8Array>;

/** The tokenizer files of a model folder, read into memory (so later saves never depend on the folder). */
export function readTokenizerFiles(dir: string): FileSet {
  const out: FileSet = new Map();
  for (const name of TOKENIZER_FILES) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) out.set(name, fs.readFileSync(p));
  }
  if (!out.has('spm.model') && !out.has('tokenizer.json')) throw new Error(`${dir}: no tokenizer files (spm.model or tokenizer.json) to copy into checkpoints`);
  return out;
}

export interface EvalRecord {
  step: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface TrainerState {
  version: 1;
  /** Optimizer updates done. */
  global_step: number;
  /** Fractional epoch (batches consumed / batches per epoch). */
  epoch: number;
  total_steps: number;
  /** Where the batch planner continues. */
  planner: BatchPlannerState;
  best_metric: number | null;
  best_step: number | null;
  best_model_checkpoint: string | null;
  eval_history: EvalRecord[];
  /** Micro-batches skipped for NaN/Inf so far. */
  skipped_batches: number;
  /** The training config, upstream key names. */
  train_config: Record<string, unknown>;
}

export interface ModelFolderContent {
  config: GlinerConfig;
  weights: TensorMap;
  tokenizerFiles: FileSet;
}

export interface CheckpointContent extends ModelFolderContent {
  optimizer?: { tensors: TensorMap; meta: AdamWStateMeta };
  trainerState?: TrainerState;
  /** The weight average (ema_decay), written as model.ema.safetensors. */
  ema?: { weights: TensorMap; state: EmaState };
}

/** A JSON file's bytes, indented as Hugging Face writes them. */
export function jsonBytes(v: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(v, null, 2) + '\n', 'utf8');
}

/** Write the files of a model folder (and optional training state) into an existing folder. */
export async function writeCheckpointFiles(dir: string, content: CheckpointContent): Promise<void> {
  await writeFileAtomic(path.join(dir, CONFIG_FILE), jsonBytes(glinerConfigToJson(content.config)));
  // HF writes format "pt"; transformers warns about safetensors files without it.
  await writeFileAtomic(path.join(dir, MODEL_FILE), writeSafetensors(content.weights, { format: 'pt' }));
  for (const [name, bytes] of content.tokenizerFiles) await writeFileAtomic(path.join(dir, name), bytes);
  if (content.optimizer) {
    const meta = { format: 'gliner-tf-adamw', adamw: JSON.stringify(content.optimizer.meta) };
    await writeFileAtomic(path.join(dir, OPTIMIZER_FILE), writeSafetensors(content.optimizer.tensors, meta));
  }
  if (content.ema) {
    const meta = { format: 'pt', gliner_tf_ema: JSON.stringify(content.ema.state) };
    await writeFileAtomic(path.join(dir, EMA_FILE), writeSafetensors(content.ema.weights, meta));
  }
  if (content.trainerState) await writeFileAtomic(path.join(dir, TRAINER_STATE_FILE), jsonBytes(content.trainerState));
}

/**
 * Write a complete checkpoint or model folder at `target` atomically (see io/atomic-write): it
 * either does not exist or is complete; an existing `target` is replaced. On failure (a full
 * disk included) nothing of the new folder is left and the previous folders are untouched.
 * `hook` (tests only) runs after the files are written, before the rename.
 */
export async function writeCheckpointFolder(target: string, content: CheckpointContent, hook?: () => Promise<void> | void): Promise<string> {
  return writeFolderAtomic(target, async (tmp) => {
    await writeCheckpointFiles(tmp, content);
    if (hook) await hook();
  });
}

/** Clears what a killed save left in an output folder (see io/atomic-write). */
export { cleanStaleTemp };

export interface CheckpointInfo {
  step: number;
  dir: string;
}

/** Complete checkpoints in `outputDir` (those with a trainer_state.json), oldest step first. */
export function listCheckpoints(outputDir: string): CheckpointInfo[] {
  if (!fs.existsSync(outputDir)) return [];
  const out: CheckpointInfo[] = [];
  for (const name of fs.readdirSync(outputDir)) {
    const m = /^checkpoint-(\d+)$/.exec(name);
    if (!m) continue;
    const dir = path.join(outputDir, name);
    if (fs.existsSync(path.join(dir, TRAINER_STATE_FILE))) out.push({ step: Number(m[1]), dir });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The checkpoint with the highest step, or null. */
export function latestCheckpoint(outputDir: string): CheckpointInfo | null {
  const all = listCheckpoints(outputDir);
  return all.length ? all[all.length - 1] : null;
}

/**
 * Delete the oldest checkpoints until at most `limit` remain (0 = no limit). The folders in
 * `keep` (the best one) and the newest one are never deleted. Returns the deleted folders.
 */
export function rotateCheckpoints(outputDir: string, limit: number, keep: ReadonlySet<string> = new Set()): string[] {
  if (limit <= 0) return [];
  const all = listCheckpoints(outputDir);
  const removed: string[] = [];
  let remaining = all.length;
  for (let i = 0; i < all.length - 1 && remaining > limit; i++) {
    const c = all[i];
    if (keep.has(path.resolve(c.dir))) continue;
    removeFolderAtomic(c.dir); // never half a checkpoint under its name
    removed.push(c.dir);
    remaining--;
  }
  return removed;
}

export function checkpointDir(outputDir: string, step: number): string {
  return path.join(outputDir, `${CHECKPOINT_PREFIX}${step}`);
}

/** Read trainer_state.json of a checkpoint. */
export function readTrainerState(dir: string): TrainerState {
  const file = path.join(dir, TRAINER_STATE_FILE);
  if (!fs.existsSync(file)) throw new Error(`${dir}: not a training checkpoint (no ${TRAINER_STATE_FILE})`);
  let state: TrainerState;
  try {
    state = JSON.parse(fs.readFileSync(file, 'utf8')) as TrainerState;
  } catch (e) {
    throw new Error(`${file}: invalid JSON (${(e as Error).message})`);
  }
  if (state.version !== 1 || !Number.isInteger(state.global_step) || typeof state.planner !== 'object') {
    throw new Error(`${file}: unsupported or damaged trainer state`);
  }
  return state;
}

/** Read optimizer.safetensors of a checkpoint. */
export function readOptimizerState(dir: string): { tensors: TensorMap; meta: AdamWStateMeta } {
  const file = path.join(dir, OPTIMIZER_FILE);
  if (!fs.existsSync(file)) throw new Error(`${dir}: no ${OPTIMIZER_FILE} (a model-only folder cannot be resumed)`);
  const { tensors, metadata } = readSafetensors(fs.readFileSync(file), file);
  if (!metadata.adamw) throw new Error(`${file}: no optimizer metadata`);
  let meta: AdamWStateMeta;
  try {
    meta = JSON.parse(metadata.adamw) as AdamWStateMeta;
  } catch (e) {
    throw new Error(`${file}: invalid optimizer metadata (${(e as Error).message})`);
  }
  return { tensors, meta };
}

/** model.ema.safetensors of a checkpoint, or null when it has none. */
export function readEmaWeights(dir: string): { weights: TensorMap; state: EmaState; file: string } | null {
  const file = path.join(dir, EMA_FILE);
  if (!fs.existsSync(file)) return null;
  const { tensors, metadata } = readSafetensors(fs.readFileSync(file), file);
  let state: EmaState;
  try {
    state = JSON.parse(metadata.gliner_tf_ema ?? '') as EmaState;
  } catch {
    throw new Error(`${file}: no EMA state in the metadata (not written by gliner-tf train)`);
  }
  if (typeof state.decay !== 'number' || !Number.isInteger(state.updates)) throw new Error(`${file}: damaged EMA state ${JSON.stringify(state)}`);
  return { weights: tensors, state, file };
}
