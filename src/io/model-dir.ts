/**
 * Reads a GLiNER model folder (as upstream's save_pretrained writes it, or a hub snapshot):
 *   gliner_config.json                       required
 *   model.safetensors | pytorch_model.bin    weights (safetensors preferred)
 *   config.json                              encoder config, used when gliner_config.json embeds none
 *   spm.model / tokenizer.json + added_tokens.json, tokenizer_config.json, special_tokens_map.json
 *
 * Only file reading and validation happen here; the model classes never touch the filesystem.
 */
import * as fs from 'fs';
import * as path from 'path';
import { GlinerConfig, parseGlinerConfig } from '../config';
import { assertJsonDepth } from './json-depth';
import { TensorMap } from './host-tensor';
import { readWeightsFile } from './weights-file';

export const GLINER_CONFIG_FILE = 'gliner_config.json';
export const WEIGHT_FILES = ['model.safetensors', 'pytorch_model.bin'] as const;

export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  assertJsonDepth(text, file);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: invalid JSON (${(e as Error).message})`);
  }
}

/** The weights file of a folder: model.safetensors if present, else pytorch_model.bin. */
export function findWeightsFile(dir: string): string {
  for (const name of WEIGHT_FILES) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return p;
  }
  throw new Error(`${dir}: no weights file (looked for ${WEIGHT_FILES.join(', ')})`);
}

/**
 * Parse the folder's config. `encoderConfigDir` is where to find the encoder's config.json when
 * the GLiNER config does not embed it (defaults to the model folder itself).
 */
export function readGlinerConfig(dir: string, encoderConfigDir = dir): GlinerConfig {
  const file = path.join(dir, GLINER_CONFIG_FILE);
  if (!fs.existsSync(file)) throw new Error(`${dir}: not a GLiNER model folder (no ${GLINER_CONFIG_FILE})`);
  const raw = readJsonFile(file) as Record<string, unknown>;
  let encoderRaw: unknown;
  if (raw && typeof raw === 'object' && !raw.encoder_config) {
    const encFile = path.join(encoderConfigDir, 'config.json');
    if (fs.existsSync(encFile)) encoderRaw = readJsonFile(encFile);
  }
  return parseGlinerConfig(raw, file, encoderRaw);
}

export async function readModelWeights(dir: string): Promise<{ file: string; weights: TensorMap }> {
  const file = findWeightsFile(dir);
  return { file, weights: await readWeightsFile(file) };
}
