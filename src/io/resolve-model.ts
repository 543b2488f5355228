/**
 * Where a model's files come from: a local folder, or a Hugging Face hub repo downloaded into
 * the huggingface_hub cache. As upstream GLiNER does, a checkpoint that ships no tokenizer (the
 * published v2.1 models ship none) takes it from the encoder repo named by `model_name` in its
 * gliner_config.json (e.g. microsoft/deberta-v3-small), and so does the encoder config when the
 * GLiNER config embeds none.
 */
import * as fs from 'fs';
import * as path from 'path';
import { snapshotDownload, tryHubDownload } from '../hub';
import type { HubDownloadOptions } from '../hub';
import { assertConfigObject } from '../config-validation';
import { GLINER_CONFIG_FILE, readJsonFile } from './model-dir';

export interface ModelSource {
  /** Folder with gliner_config.json and the weights. */
  modelDir: string;
  /** Folder with the tokenizer files (the model folder, or the encoder's). */
  tokenizerDir: string;
  /** Folder whose config.json describes the encoder, when gliner_config.json embeds none. */
  encoderConfigDir: string;
  /** Whether the tokenizer came from the encoder repo (GLiNER's tokens must then be added). */
  tokenizerFromEncoder: boolean;
}

export type ResolveOptions = Pick<HubDownloadOptions, 'revision' | 'cacheDir' | 'token' | 'localFilesOnly' | 'endpoint' | 'quiet'>;

const TOKENIZER_MODEL_FILES = ['spm.model', 'tokenizer.json'];
const TOKENIZER_SIDE_FILES = ['tokenizer_config.json', 'added_tokens.json', 'special_tokens_map.json'];

/** "org/name" or "name" as the hub spells repo ids. */
const REPO_ID = /^(?:[A-Za-z0-9][\w.-]*\/)?[A-Za-z0-9][\w.-]*$/;

function hasTokenizer(dir: string): boolean {
  return TOKENIZER_MODEL_FILES.some((f) => fs.existsSync(path.join(dir, f)));
}

async function downloadModelRepo(repoId: string, opts: ResolveOptions): Promise<string> {
  const dir = await snapshotDownload(repoId, [GLINER_CONFIG_FILE], {
    ...opts,
    optional: [...TOKENIZER_MODEL_FILES, ...TOKENIZER_SIDE_FILES, 'config.json'],
  });
  // Weights: safetensors when the repo has it, else the torch checkpoint most GLiNER repos ship.
  const revision = path.basename(dir); // snapshots/<commit>: pin the rest to the same commit
  const st = await tryHubDownload(repoId, 'model.safetensors', { ...opts, revision });
  if (!st) {
    const pt = await tryHubDownload(repoId, 'pytorch_model.bin', { ...opts, revision });
    if (!pt) throw new Error(`${repoId}: the repo has neither model.safetensors nor pytorch_model.bin`);
  }
  return dir;
}

async function downloadEncoderRepo(repoId: string, opts: ResolveOptions): Promise<string> {
  // The encoder's own revision is its main branch, not the GLiNER repo's.
  const { revision: _ignored, ...rest } = opts;
  return snapshotDownload(repoId, ['config.json'], { ...rest, optional: [...TOKENIZER_MODEL_FILES, ...TOKENIZER_SIDE_FILES] });
}

export async function resolveModelSource(pathOrId: string, opts: ResolveOptions = {}): Promise<ModelSource> {
  let modelDir: string;
  if (fs.existsSync(pathOrId)) {
    if (!fs.statSync(pathOrId).isDirectory()) throw new Error(`${pathOrId}: expected a model folder, found a file`);
    modelDir = pathOrId;
  } else if (REPO_ID.test(pathOrId) && !pathOrId.startsWith('.')) {
    modelDir = await downloadModelRepo(pathOrId, opts);
  } else {
    throw new Error(`${pathOrId}: no such model folder (and not a Hugging Face repo id like 'urchade/gliner_small-v2.1')`);
  }
  const configFile = path.join(modelDir, GLINER_CONFIG_FILE);
  if (!fs.existsSync(configFile)) throw new Error(`${modelDir}: not a GLiNER model folder (no ${GLINER_CONFIG_FILE})`);
  const raw = readJsonFile(configFile);
  assertConfigObject(raw, configFile);
  const needsEncoderConfig = !raw.encoder_config && !fs.existsSync(path.join(modelDir, 'config.json'));
  if (hasTokenizer(modelDir) && !needsEncoderConfig) {
    return { modelDir, tokenizerDir: modelDir, encoderConfigDir: modelDir, tokenizerFromEncoder: false };
  }
  const encoderRepo = raw.model_name;
  if (typeof encoderRepo !== 'string' || !encoderRepo) {
    throw new Error(`${modelDir}: no tokenizer files (${TOKENIZER_MODEL_FILES.join(' or ')}) and no model_name in ${GLINER_CONFIG_FILE} to take them from`);
  }
  let encoderDir: string;
  if (fs.existsSync(encoderRepo) && fs.statSync(encoderRepo).isDirectory()) encoderDir = encoderRepo;
  else {
    try {
      encoderDir = await downloadEncoderRepo(encoderRepo, opts);
    } catch (e) {
      throw new Error(
        `${modelDir}: ships no tokenizer${needsEncoderConfig ? ' or encoder config' : ''}; getting them from '${encoderRepo}' (model_name) failed: ${(e as Error).message}`,
      );
    }
  }
  const ownTokenizer = hasTokenizer(modelDir);
  if (!ownTokenizer && !hasTokenizer(encoderDir)) throw new Error(`${encoderDir}: no tokenizer files (${TOKENIZER_MODEL_FILES.join(' or ')})`);
  return {
    modelDir,
    tokenizerDir: ownTokenizer ? modelDir : encoderDir,
    encoderConfigDir: needsEncoderConfig ? encoderDir : modelDir,
    tokenizerFromEncoder: !ownTokenizer,
  };
}
