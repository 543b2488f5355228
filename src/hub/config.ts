/**
 * Hub settings from the environment, following the variables huggingface_hub reads so a cache
 * shared with Python tools is found in the same place. Everything is read at call time (not at
 * import) so a process, or a test, can change the environment between calls.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';

type Env = NodeJS.ProcessEnv;

const TRUE_VALUES = new Set(['1', 'ON', 'YES', 'TRUE']);

/** Same truthiness rule as huggingface_hub: 1/ON/YES/TRUE, case-insensitive. */
export function isTruthyEnv(value: string | undefined): boolean {
  return value !== undefined && TRUE_VALUES.has(value.trim().toUpperCase());
}

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value.trim() : undefined;
}

function expandHome(p: string): string {
  if (p === '~') return os.homedir();
  if (p.startsWith('~/') || p.startsWith('~\\')) return path.join(os.homedir(), p.slice(2));
  return p;
}

/** $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(env: Env = process.env): string {
  const explicit = nonEmpty(env.HF_HOME);
  if (explicit) return path.resolve(expandHome(explicit));
  const xdg = nonEmpty(env.XDG_CACHE_HOME);
  return path.resolve(xdg ? expandHome(xdg) : path.join(os.homedir(), '.cache'), 'huggingface');
}

/** $HF_HUB_CACHE (or the legacy $HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub. */
export function hubCacheDir(env: Env = process.env): string {
  const explicit = nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE);
  return explicit ? path.resolve(expandHome(explicit)) : path.join(hfHome(env), 'hub');
}

/** $HF_ENDPOINT without a trailing slash, else https://huggingface.co. */
export function hubEndpoint(env: Env = process.env): string {
  return (nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

/** HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE, which huggingface_hub also honours). */
export function isOffline(env: Env = process.env): boolean {
  return isTruthyEnv(env.HF_HUB_OFFLINE) || isTruthyEnv(env.TRANSFORMERS_OFFLINE);
}

/**
 * Token lookup order of huggingface_hub: $HF_TOKEN, legacy $HUGGING_FACE_HUB_TOKEN, then the
 * file written by `huggingface-cli login` ($HF_TOKEN_PATH, default $HF_HOME/token).
 */
export function hubToken(env: Env = process.env): string | undefined {
  const fromEnv = nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN);
  if (fromEnv) return fromEnv;
  const tokenPath = nonEmpty(env.HF_TOKEN_PATH) ?? path.join(hfHome(env), 'token');
  try {
    return nonEmpty(fs.readFileSync(expandHome(tokenPath), 'utf8'));
  } catch {
    return undefined; // no login file: anonymous access
  }
}

function envSeconds(value: string | undefined, fallback: number): number {
  const n = value === undefined ? NaN : Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

/** Socket idle timeout for metadata (HEAD) requests, $HF_HUB_ETAG_TIMEOUT seconds (default 10). */
export function etagTimeoutMs(env: Env = process.env): number {
  return envSeconds(env.HF_HUB_ETAG_TIMEOUT, 10) * 1000;
}

/** Socket idle timeout while downloading, $HF_HUB_DOWNLOAD_TIMEOUT seconds (default 10). */
export function downloadTimeoutMs(env: Env = process.env): number {
  return envSeconds(env.HF_HUB_DOWNLOAD_TIMEOUT, 10) * 1000;
}

/** HF_HUB_DISABLE_SYMLINKS: store real files in snapshots/ instead of links to blobs/. */
export function symlinksDisabled(env: Env = process.env): boolean {
  return isTruthyEnv(env.HF_HUB_DISABLE_SYMLINKS);
}

/** HF_HUB_DISABLE_PROGRESS_BARS: never draw download progress bars. */
export function progressBarsDisabled(env: Env = process.env): boolean {
  return isTruthyEnv(env.HF_HUB_DISABLE_PROGRESS_BARS);
}
