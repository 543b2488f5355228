/**
 * Download files from the Hugging Face Hub into the shared cache, behaving like
 * huggingface_hub's `hf_hub_download`:
 *
 *  1. HEAD {endpoint}/{repo}/resolve/{revision}/{file} (following only same-host relative
 *     redirects, e.g. a renamed repo) gives the commit (X-Repo-Commit), the blob id
 *     (X-Linked-Etag for LFS files, else ETag), the size (X-Linked-Size, else Content-Length)
 *     and, for LFS files, a redirect to the CDN.
 *  2. If snapshots/<commit>/<file> exists, or the blob does, nothing is downloaded.
 *  3. Otherwise GET into blobs/<etag>.incomplete (resuming with Range when it exists), check
 *     size (and sha256 for LFS files), rename to blobs/<etag> and link the snapshot to it.
 *
 * When the hub cannot be reached (or HF_HUB_OFFLINE / localFilesOnly) the cached copy for the
 * revision is used: refs/<revision> gives the commit, or the revision is a commit sha.
 */
import { createHash, Hash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ProgressBar } from '../util/progress';
import {
  COMMIT_HASH_RE,
  RepoType,
  blobPath as blobPathOf,
  isSafeName,
  linkPointer,
  lookupCache,
  markNoExist,
  pointerPath as pointerPathOf,
  repoFolderName,
  storageFolder,
  validateFilename,
  validateRepoId,
  validateRevision,
  withFileLock,
  writeRef,
  LockHandle,
} from './cache';
import {
  DEFAULT_REVISION,
  downloadTimeoutMs,
  etagTimeoutMs,
  hubCacheDir,
  hubEndpoint,
  hubToken,
  isOffline,
  progressBarsDisabled,
  symlinksDisabled,
} from './config';
import {
  ConsistencyError,
  EntryNotFoundError,
  FileMetadataError,
  GatedRepoError,
  HubAuthError,
  HubError,
  HubHttpError,
  HubNetworkError,
  InsufficientDiskSpaceError,
  LocalEntryNotFoundError,
  RepositoryNotFoundError,
  RevisionNotFoundError,
} from './errors';
import {
  HeaderMap,
  RawResponse,
  TransportError,
  backoffMs,
  discard,
  header,
  isRecoverableTransport,
  isRedirect,
  isRetryableStatus,
  readText,
  sendFollowingRedirects,
  shouldDropCredentials,
  sleep,
  withoutAuthorization,
} from './http';

export interface DownloadProgress {
  /** File name inside the repo. */
  file: string;
  /** Bytes on disk so far (including a resumed prefix). */
  downloaded: number;
  /** Expected size in bytes. */
  total: number;
}

export interface HubDownloadOptions {
  /** Branch, tag or commit sha. Default 'main'. */
  revision?: string;
  /** Default 'model'. */
  repoType?: RepoType;
  /** Cache root. Default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Access token. Default $HF_TOKEN, else the `huggingface-cli login` token file; `false` sends none. */
  token?: string | false;
  /** Never touch the network (same as HF_HUB_OFFLINE=1). */
  localFilesOnly?: boolean;
  /** Hub URL. Default $HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Called as bytes arrive. */
  onProgress?: (p: DownloadProgress) => void;
  /** No progress bar on stderr (it is drawn only on a TTY anyway). */
  quiet?: boolean;
  /** Attempts after the first on network errors and 429/5xx answers. Default 5. */
  maxRetries?: number;
  /** First backoff delay; doubles per attempt up to 8x. Default 1000 ms. */
  retryDelayMs?: number;
  /** Check the sha256 of LFS files (their etag) after download. Default true. */
  verifyChecksum?: boolean;
}

export interface SnapshotDownloadOptions extends HubDownloadOptions {
  /** Files that may be absent from the repo (e.g. tokenizer files); missing ones are skipped. */
  optional?: string[];
}

/** Everything a single-file download needs, resolved once from options and environment. */
interface Ctx {
  repoId: string;
  repoType: RepoType;
  filename: string;
  revision: string;
  endpoint: string;
  cacheDir: string;
  storage: string;
  token: string | undefined;
  offline: boolean;
  /** True when offline came from localFilesOnly rather than the environment (for messages). */
  offlineByOption: boolean;
  onProgress?: (p: DownloadProgress) => void;
  quiet: boolean;
  maxRetries: number;
  retryDelayMs: number;
  verifyChecksum: boolean;
}

/** What the hub says about one file (from the HEAD request). */
interface FileMetadata {
  commit: string;
  etag: string;
  size: number;
  /** Where to GET it: the resolve URL, or the CDN URL the hub redirected to. */
  location: string;
  /** Headers for the GET (no Authorization when `location` is on another host). */
  headers: HeaderMap;
  /** LFS files are named by their sha256, which we can check. */
  isLfs: boolean;
}

/** Result of resolving one file: its local path, or null for a file the repo does not have. */
interface FileResult {
  path: string | null;
  commit: string | null;
}

const MAX_BACKOFF_FACTOR = 8;

function makeCtx(repoId: string, filename: string, opts: HubDownloadOptions): Ctx {
  const revision = opts.revision ?? DEFAULT_REVISION;
  const repoType = opts.repoType ?? 'model';
  validateRepoId(repoId);
  validateFilename(filename);
  validateRevision(revision);
  const cacheDir = path.resolve(opts.cacheDir ?? hubCacheDir());
  return {
    repoId,
    repoType,
    filename,
    revision,
    endpoint: (opts.endpoint ?? hubEndpoint()).replace(/\/+$/, ''),
    cacheDir,
    storage: storageFolder(cacheDir, repoId, repoType),
    token: opts.token === false ? undefined : opts.token ?? hubToken(),
    offline: opts.localFilesOnly === true || isOffline(),
    offlineByOption: opts.localFilesOnly === true,
    onProgress: opts.onProgress,
    quiet: opts.quiet === true || progressBarsDisabled(),
    maxRetries: Math.max(0, opts.maxRetries ?? 5),
    retryDelayMs: Math.max(0, opts.retryDelayMs ?? 1000),
    verifyChecksum: opts.verifyChecksum ?? true,
  };
}

/** "model 'org/name'" / "dataset 'org/name'" for messages. */
function describeRepo(ctx: Ctx): string {
  return `${ctx.repoType} '${ctx.repoId}'`;
}

/** {endpoint}/[datasets/|spaces/]{repo}/resolve/{revision}/{file}, URL-encoded like huggingface_hub. */
export function hubFileUrl(repoId: string, filename: string, revision = DEFAULT_REVISION, endpoint = hubEndpoint(), repoType: RepoType = 'model'): string {
  const prefix = repoType === 'model' ? '' : `${repoType}s/`;
  const file = filename.split('/').map(encodeURIComponent).join('/');
  return `${endpoint.replace(/\/+$/, '')}/${prefix}${repoId}/resolve/${encodeURIComponent(revision)}/${file}`;
}

function authHeaders(ctx: Ctx): HeaderMap {
  return ctx.token ? { authorization: `Bearer ${ctx.token}` } : {};
}

function tokenHint(ctx: Ctx): string {
  return ctx.token
    ? 'A token was sent but does not grant access: check it is valid and has read access to this repo.'
    : 'No token was sent: set HF_TOKEN (or pass the `token` option) to a token with read access.';
}

/** Turn an error response into the matching HubError, using the hub's X-Error-Code header. */
async function httpError(ctx: Ctx, res: RawResponse): Promise<HubError> {
  const code = header(res, 'x-error-code');
  // The hub puts a readable reason in X-Error-Message; other servers may only have a body.
  let serverMessage = header(res, 'x-error-message');
  const body = (await readText(res, 2048)).trim();
  if (serverMessage === undefined && body) serverMessage = body.length > 300 ? `${body.slice(0, 300)}...` : body;
  const said = serverMessage ? ` Server said: ${serverMessage}` : '';
  const commit = header(res, 'x-repo-commit');
  const details = { status: res.status, url: res.url, commit };
  const where = `(HTTP ${res.status} for ${res.url})`;
  const repoPage = `${ctx.endpoint}/${ctx.repoType === 'model' ? '' : `${ctx.repoType}s/`}${ctx.repoId}`;
  switch (code) {
    case 'EntryNotFound':
      return new EntryNotFoundError(
        `File '${ctx.filename}' does not exist in ${describeRepo(ctx)} at revision '${ctx.revision}' ${where}.${said}`,
        details,
      );
    case 'RevisionNotFound':
      return new RevisionNotFoundError(
        `Revision '${ctx.revision}' does not exist in ${describeRepo(ctx)} ${where}: check the branch, tag or commit sha.${said}`,
        details,
      );
    case 'GatedRepo':
      return new GatedRepoError(
        `Access to ${describeRepo(ctx)} is restricted: it is a gated repo ${where}. Accept its conditions at ` +
          `${repoPage} while logged in, then authenticate. ${tokenHint(ctx)}${said}`,
        details,
      );
    case 'RepoNotFound':
      return new RepositoryNotFoundError(
        `Repository ${describeRepo(ctx)} was not found on ${ctx.endpoint} ${where}. Check the repo id; if the repo is ` +
          `private or gated, you must be authenticated. ${tokenHint(ctx)}${said}`,
        details,
      );
  }
  if (res.status === 401 || res.status === 403) {
    return new HubAuthError(
      `Not authorized to download '${ctx.filename}' from ${describeRepo(ctx)} ${where}: the repo may be private or ` +
        `gated (accept its conditions at ${repoPage}). ${tokenHint(ctx)}${said}`,
      details,
    );
  }
  return new HubHttpError(`Request for '${ctx.filename}' from ${describeRepo(ctx)} failed ${where}.${said}`, details);
}

function normalizeEtag(etag: string | undefined): string | undefined {
  if (etag === undefined) return undefined;
  return etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}

function intOrUndefined(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

/** One HEAD request: file metadata, or a HubError / TransportError. */
async function fetchMetadata(ctx: Ctx): Promise<FileMetadata> {
  const url = hubFileUrl(ctx.repoId, ctx.filename, ctx.revision, ctx.endpoint, ctx.repoType);
  // identity: we need the real size, not that of a compressed body.
  const headers: HeaderMap = { ...authHeaders(ctx), 'accept-encoding': 'identity' };
  const res = await sendFollowingRedirects('HEAD', url, headers, { relativeOnly: true, timeoutMs: etagTimeoutMs() });
  if (res.status >= 400) throw await httpError(ctx, res);
  discard(res);

  const redirected = isRedirect(res.status);
  const commit = header(res, 'x-repo-commit');
  const linkedEtag = header(res, 'x-linked-etag');
  const etag = normalizeEtag(linkedEtag ?? header(res, 'etag'));
  const size = intOrUndefined(header(res, 'x-linked-size') ?? (redirected ? undefined : header(res, 'content-length')));
  const details = { status: res.status, url: res.url };
  if (commit === undefined) {
    throw new FileMetadataError(
      `${res.url} answered without an X-Repo-Commit header: it does not look like a Hugging Face Hub endpoint. ` +
        `Check HF_ENDPOINT and any proxy or firewall between you and ${ctx.endpoint}.`,
      details,
    );
  }
  if (!isSafeName(commit)) throw new FileMetadataError(`Unexpected commit id '${commit}' from ${res.url}.`, details);
  if (etag === undefined || etag === '') {
    throw new FileMetadataError(`${res.url} answered without an ETag: cannot identify the file version reliably.`, details);
  }
  if (!isSafeName(etag)) throw new FileMetadataError(`Unexpected ETag '${etag}' from ${res.url}.`, details);
  if (size === undefined) throw new FileMetadataError(`${res.url} answered without the file size (Content-Length).`, details);

  // An absolute redirect goes to the CDN with a pre-signed URL: download straight from there,
  // and never send our token to another host.
  let location = res.url;
  let getHeaders = authHeaders(ctx);
  const target = redirected ? header(res, 'location') : undefined;
  if (target !== undefined) {
    location = new URL(target, res.url).toString();
    if (shouldDropCredentials(res.url, location)) getHeaders = withoutAuthorization(getHeaders);
  }
  return { commit, etag, size, location, headers: getHeaders, isLfs: linkedEtag !== undefined };
}

/** Network trouble or a "try later" status: worth retrying and a reason to fall back to the cache. */
function isTransient(e: unknown): boolean {
  return (e instanceof TransportError && isRecoverableTransport(e)) || (e instanceof HubHttpError && e.status !== undefined && isRetryableStatus(e.status));
}

async function fetchMetadataWithRetries(ctx: Ctx, firstError: unknown): Promise<FileMetadata> {
  let lastError = firstError;
  for (let attempt = 0; attempt < ctx.maxRetries; attempt++) {
    await sleep(backoffMs(attempt, ctx.retryDelayMs, ctx.retryDelayMs * MAX_BACKOFF_FACTOR));
    try {
      return await fetchMetadata(ctx);
    } catch (e) {
      if (e instanceof TransportError && !isRecoverableTransport(e)) throw unreachableError(ctx, e, attempt + 2);
      if (!isTransient(e)) throw e;
      lastError = e;
    }
  }
  throw unreachableError(ctx, lastError, ctx.maxRetries + 1);
}

function unreachableError(ctx: Ctx, cause: unknown, attempts: number): HubError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const lookup = lookupCache(ctx.storage, ctx.revision, ctx.filename);
  const cacheNote = lookup.status === 'missing' ? ` It is not in the local cache either (no ${lookup.checked}).` : '';
  const msg =
    `Could not get '${ctx.filename}' from ${describeRepo(ctx)} on ${ctx.endpoint} after ${attempts} attempt(s): ${reason}.` +
    `${cacheNote} Check your network connection and proxy settings; use --offline (HF_HUB_OFFLINE=1) to use cached ` +
    `files only, or set HF_ENDPOINT to a hub you can reach.`;
  if (cause instanceof HubHttpError) return new HubHttpError(msg, { status: cause.status, url: cause.url, cause });
  return new HubNetworkError(msg, { cause });
}

function offlineError(ctx: Ctx, checked: string): LocalEntryNotFoundError {
  const why = ctx.offlineByOption ? 'localFilesOnly is set' : 'offline mode is on (HF_HUB_OFFLINE)';
  return new LocalEntryNotFoundError(
    `Cannot find '${ctx.filename}' of ${describeRepo(ctx)} at revision '${ctx.revision}' in the local cache ` +
      `(${ctx.storage}): ${checked} does not exist, and ${why} so the hub was not contacted. ` +
      `Download it once while online, or turn offline mode off.`,
  );
}

/**
 * Resolve one file to a local path. Files the repo does not have give `{ path: null }` when
 * `optional`, and throw EntryNotFoundError otherwise; every other failure throws.
 */
async function fetchFile(ctx: Ctx, optional: boolean): Promise<FileResult> {
  const pinned = COMMIT_HASH_RE.test(ctx.revision);
  if (pinned || optional) {
    const hit = lookupCache(ctx.storage, ctx.revision, ctx.filename);
    // A commit is immutable: a cached file for it is final, no request needed.
    if (hit.status === 'cached' && pinned) return { path: hit.path, commit: hit.commit };
    // Recorded as absent at the commit the revision last resolved to (transformers does the same).
    if (hit.status === 'no-exist' && optional) return { path: null, commit: hit.commit };
  }

  if (ctx.offline) {
    const hit = lookupCache(ctx.storage, ctx.revision, ctx.filename);
    if (hit.status === 'cached') return { path: hit.path, commit: hit.commit };
    if (hit.status === 'no-exist') {
      throw new EntryNotFoundError(
        `File '${ctx.filename}' does not exist in ${describeRepo(ctx)} at commit ${hit.commit} ` +
          `(recorded in the cache under .no_exist; offline, so the hub was not asked again).`,
        { commit: hit.commit },
      );
    }
    throw offlineError(ctx, hit.checked);
  }

  let meta: FileMetadata;
  try {
    meta = await fetchMetadata(ctx);
  } catch (e) {
    if (e instanceof EntryNotFoundError) {
      const commit = e.commit !== undefined && isSafeName(e.commit) ? e.commit : null;
      if (commit !== null) {
        // Remember the absence so that optional lookups at this commit need no request next time.
        markNoExist(ctx.storage, commit, ctx.filename);
        writeRefBestEffort(ctx, commit);
      }
      if (optional) return { path: null, commit };
      throw e;
    }
    if (e instanceof RevisionNotFoundError) throw e;
    if (!(e instanceof HubError) && !(e instanceof TransportError)) throw e;
    // Hub unreachable, down, or refusing us: a cached copy of this revision is good enough.
    const hit = lookupCache(ctx.storage, ctx.revision, ctx.filename);
    if (hit.status === 'cached') return { path: hit.path, commit: hit.commit };
    if (hit.status === 'no-exist' && optional) return { path: null, commit: hit.commit };
    // Connection refused, unknown host...: no retry can help, say so now.
    if (e instanceof TransportError && !isRecoverableTransport(e)) throw unreachableError(ctx, e, 1);
    if (!isTransient(e)) throw e;
    meta = await fetchMetadataWithRetries(ctx, e);
  }
  return { path: await materialize(ctx, meta), commit: meta.commit };
}

function writeRefBestEffort(ctx: Ctx, commit: string): void {
  try {
    writeRef(ctx.storage, ctx.revision, commit);
  } catch {
    // A read-only cache is fine as long as the files are in it.
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function sizeOf(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}

/** Make sure blobs/<etag> and snapshots/<commit>/<file> exist, downloading only if needed. */
async function materialize(ctx: Ctx, meta: FileMetadata): Promise<string> {
  const blob = blobPathOf(ctx.storage, meta.etag);
  const pointer = pointerPathOf(ctx.storage, meta.commit, ctx.filename);
  if (isFile(pointer)) {
    writeRefBestEffort(ctx, meta.commit);
    return pointer;
  }
  fs.mkdirSync(path.dirname(blob), { recursive: true });
  writeRef(ctx.storage, ctx.revision, meta.commit);

  // Our own lock file next to huggingface_hub's: Python takes an flock() on <etag>.lock, which Node
  // cannot, so sharing that file would only let each side delete or wait on the other's. Python
  // downloads into uniquely named temp files, so it never writes our .incomplete file anyway.
  const lockPath = path.join(ctx.cacheDir, '.locks', repoFolderName(ctx.repoId, ctx.repoType), `${meta.etag}.gliner-tf.lock`);
  await withFileLock(lockPath, async (lock) => {
    // Checked under the lock: another process may have finished the blob while we waited.
    let newBlob = false;
    if (!fs.existsSync(blob)) {
      await downloadBlob(ctx, meta, blob, lock);
      newBlob = true;
    }
    if (!isFile(pointer)) linkPointer(blob, pointer, { newBlob, useSymlinks: !symlinksDisabled() });
  });
  return pointer;
}

async function sha256OfFile(p: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(p) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

/** Start offset of a "bytes START-END/TOTAL" Content-Range header. */
function contentRangeStart(value: string | undefined): number | undefined {
  const m = value === undefined ? null : /^bytes\s+(\d+)-/i.exec(value.trim());
  return m ? Number(m[1]) : undefined;
}

function displayName(filename: string): string {
  return filename.length > 40 ? `(...)${filename.slice(-40)}` : filename;
}

/** Bytes free for us on the file system holding `dir`, or undefined where statfs is unavailable. */
function freeBytes(dir: string): number | undefined {
  const statfs = (fs as { statfsSync?: (p: string) => { bavail: number | bigint; bsize: number | bigint } }).statfsSync;
  if (typeof statfs !== 'function') return undefined;
  try {
    const st = statfs(dir);
    return Number(st.bavail) * Number(st.bsize);
  } catch {
    return undefined;
  }
}

/** Refuse to start a download the disk cannot hold (a server may claim any size). */
function checkDiskSpace(ctx: Ctx, dir: string, needed: number): void {
  const free = freeBytes(dir);
  if (free !== undefined && needed > free) {
    throw new InsufficientDiskSpaceError(
      `Not enough disk space to download '${ctx.filename}' from ${describeRepo(ctx)}: it needs ${formatBytes(needed)} more ` +
        `but ${dir} has ${formatBytes(free)} free. Free some space or point HF_HUB_CACHE at a larger disk.`,
    );
  }
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/**
 * Attempts allowed for one download, whatever progress they make: a server that keeps dropping
 * after a few new bytes would otherwise be retried for as long as the file is long.
 */
const MAX_ATTEMPTS_PER_RETRY = 10;

/**
 * GET the file into blobs/<etag>.incomplete, resuming from what is already there, then check it
 * and rename it to blobs/<etag>. Dropped connections resume with a Range request; the retry
 * budget is reset whenever the file grows past the furthest point reached so far (so a slow but
 * working connection keeps going, and a server that ignores Range and drops every time does
 * not), and the total number of attempts is capped at (maxRetries + 1) * 10.
 */
async function downloadBlob(ctx: Ctx, meta: FileMetadata, blob: string, lock: LockHandle): Promise<void> {
  const incomplete = `${blob}.incomplete`;
  const bar = new ProgressBar(displayName(ctx.filename), meta.size, { unit: 'B', quiet: ctx.quiet, initial: Math.min(sizeOf(incomplete), meta.size) });
  const report = (downloaded: number): void => {
    bar.set(downloaded);
    ctx.onProgress?.({ file: ctx.filename, downloaded, total: meta.size });
  };
  const discardPartial = (): void => fs.rmSync(incomplete, { force: true });

  // Running sha256 of the bytes in `incomplete`, valid while `hashed` equals its size; otherwise
  // the file is re-read at the end (e.g. when resuming a partial file left by an earlier run).
  let hash: Hash | null = null;
  let hashed = 0;
  let failures = 0;
  let attempts = 0;
  let furthest = Math.min(sizeOf(incomplete), meta.size);
  const maxAttempts = (ctx.maxRetries + 1) * MAX_ATTEMPTS_PER_RETRY;

  try {
    for (;;) {
      let offset = sizeOf(incomplete);
      if (offset > meta.size) {
        discardPartial(); // longer than the file: not a prefix of it
        offset = 0;
      }
      if (offset === meta.size) break; // an earlier run got everything but stopped before renaming
      if (offset === 0) {
        hash = createHash('sha256');
        hashed = 0;
      } else if (hashed !== offset) {
        hash = null;
      }
      report(offset);
      checkDiskSpace(ctx, path.dirname(incomplete), meta.size - offset);
      attempts++;

      const headers: HeaderMap = { ...meta.headers, 'accept-encoding': 'identity' };
      if (offset > 0) headers.range = `bytes=${offset}-`;
      let received = 0;
      try {
        const res = await sendFollowingRedirects('GET', meta.location, headers, { relativeOnly: false, timeoutMs: downloadTimeoutMs() });
        const badResume =
          offset > 0 && (res.status === 416 || (res.status === 206 && contentRangeStart(header(res, 'content-range')) !== offset));
        if (badResume) {
          // The server will not continue from our offset: start over (counts as a failed attempt).
          discard(res);
          discardPartial();
          throw new TransportError(`server refused to resume '${ctx.filename}' at byte ${offset}`, 'ERANGE');
        }
        if (res.status >= 400) throw await httpError(ctx, res);
        if (res.status !== 200 && res.status !== 206) {
          discard(res);
          throw new HubHttpError(`Unexpected HTTP ${res.status} while downloading '${ctx.filename}' from ${res.url}.`, {
            status: res.status,
            url: res.url,
          });
        }
        if (offset > 0 && res.status === 200) {
          // Range ignored (some proxies do that): the body is the whole file.
          offset = 0;
          hash = createHash('sha256');
          hashed = 0;
          report(0);
        }

        const fh = await fs.promises.open(incomplete, offset > 0 ? 'a' : 'w');
        let position = offset;
        try {
          let diskError: unknown;
          try {
            for await (const chunk of res.body as AsyncIterable<Buffer>) {
              if (position + chunk.length > meta.size) {
                res.body.destroy();
                throw new ConsistencyError(
                  `Consistency check failed: '${ctx.filename}' should be ${meta.size} bytes but the server sent more. ` +
                    'The partial file was deleted; please retry.',
                  { url: res.url },
                );
              }
              try {
                await fh.write(chunk);
              } catch (e) {
                res.body.destroy();
                diskError = diskWriteError(ctx, incomplete, e);
                throw diskError;
              }
              hash?.update(chunk);
              hashed += chunk.length;
              position += chunk.length;
              received += chunk.length;
              report(position);
              lock.heartbeat();
            }
          } catch (e) {
            if (e instanceof ConsistencyError || e === diskError) throw e;
            const errno = (e as NodeJS.ErrnoException).code;
            throw new TransportError(`connection lost while downloading '${ctx.filename}': ${(e as Error).message}`, errno, e);
          }
          if (!res.body.complete) {
            throw new TransportError(`connection closed before '${ctx.filename}' was complete`, 'ECONNRESET');
          }
        } finally {
          await fh.close();
        }
        break;
      } catch (e) {
        if (e instanceof ConsistencyError || e instanceof InsufficientDiskSpaceError) discardPartial();
        if (e instanceof TransportError && !isRecoverableTransport(e)) {
          throw new HubNetworkError(
            `Download of '${ctx.filename}' from ${describeRepo(ctx)} failed: ${e.message}. No retry can fix this ` +
              '(nothing listens there, or the name does not resolve); check HF_ENDPOINT, or use --offline (HF_HUB_OFFLINE=1).',
            { cause: e },
          );
        }
        if (!isTransient(e)) throw e;
        const reached = sizeOf(incomplete);
        if (received > 0 && reached > furthest) failures = 0; // new bytes: the connection works, it just broke
        furthest = Math.max(furthest, reached);
        if (failures >= ctx.maxRetries || attempts >= maxAttempts) {
          const kept = sizeOf(incomplete);
          throw new HubNetworkError(
            `Download of '${ctx.filename}' from ${describeRepo(ctx)} failed after ${failures + 1} attempt(s): ` +
              `${(e as Error).message}.` +
              (kept > 0 ? ` The ${kept} bytes received are kept in ${incomplete} and the next attempt resumes from there.` : '') +
              ' Check your network connection and retry.',
            { cause: e },
          );
        }
        await sleep(backoffMs(failures, ctx.retryDelayMs, ctx.retryDelayMs * MAX_BACKOFF_FACTOR));
        failures++;
      }
    }

    const size = sizeOf(incomplete);
    if (size !== meta.size) {
      discardPartial();
      throw new ConsistencyError(
        `Consistency check failed: '${ctx.filename}' should be ${meta.size} bytes but ${size} were downloaded. ` +
          'This is usually a network problem; the partial file was deleted, please retry.',
      );
    }
    // LFS files are named by the sha256 of their content, which catches a corrupt resumed prefix.
    if (ctx.verifyChecksum && meta.isLfs && /^[0-9a-f]{64}$/.test(meta.etag)) {
      const digest = hash !== null && hashed === size ? hash.digest('hex') : await sha256OfFile(incomplete);
      if (digest !== meta.etag) {
        discardPartial();
        throw new ConsistencyError(
          `Checksum mismatch for '${ctx.filename}': expected sha256 ${meta.etag}, got ${digest}. ` +
            'The corrupt file was deleted; please retry.',
        );
      }
    }
    fs.renameSync(incomplete, blob);
  } finally {
    bar.finish();
  }
}

/** A failed write of the partial file: say which file and what to do, not a bare ENOSPC. */
function diskWriteError(ctx: Ctx, file: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new InsufficientDiskSpaceError(
      `The disk filled up while downloading '${ctx.filename}' from ${describeRepo(ctx)} into ${file} (${code}); ` +
        'the partial file was deleted. Free some space or point HF_HUB_CACHE at a larger disk.',
      { cause: e },
    );
  }
  return new Error(`Cannot write ${file} while downloading '${ctx.filename}': ${(e as Error).message}`, { cause: e });
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Download one file of a hub repo (or find it in the cache) and return its path inside
 * snapshots/<commit>/. Throws EntryNotFoundError if the repo has no such file.
 */
export async function hubDownload(repoId: string, filename: string, opts: HubDownloadOptions = {}): Promise<string> {
  const result = await fetchFile(makeCtx(repoId, filename, opts), false);
  if (result.path === null) throw new Error(`internal error: no path for required file '${filename}'`);
  return result.path;
}

/** Like hubDownload, but null when the repo does not have the file (for optional files). */
export async function tryHubDownload(repoId: string, filename: string, opts: HubDownloadOptions = {}): Promise<string | null> {
  return (await fetchFile(makeCtx(repoId, filename, opts), true)).path;
}

/**
 * Download `filenames` (required) and `opts.optional` (skipped when absent) from one commit and
 * return the snapshot folder that holds them. The revision is resolved once, by the first file,
 * and the rest are fetched at that commit so a branch moving meanwhile cannot mix versions.
 */
export async function snapshotDownload(repoId: string, filenames: string[], opts: SnapshotDownloadOptions = {}): Promise<string> {
  const { optional = [], ...fileOpts } = opts;
  const wanted = [...filenames.map((f) => ({ f, optional: false })), ...optional.map((f) => ({ f, optional: true }))];
  let commit: string | null = null;
  let storage = '';
  for (const { f, optional: isOptional } of wanted) {
    const ctx = makeCtx(repoId, f, commit === null ? fileOpts : { ...fileOpts, revision: commit });
    storage = ctx.storage;
    const result = await fetchFile(ctx, isOptional);
    commit ??= result.commit;
  }
  if (commit === null) {
    // Only possible when nothing was found and the hub did not say which commit it looked at.
    const ctx = makeCtx(repoId, wanted[0]?.f ?? 'unknown', fileOpts);
    throw new EntryNotFoundError(
      `None of the requested files (${wanted.map((w) => w.f).join(', ') || 'none'}) exist in ${describeRepo(ctx)} at revision '${ctx.revision}'.`,
    );
  }
  return path.join(storage, 'snapshots', commit);
}
