/**
 * The on-disk cache layout shared with huggingface_hub (so Python and this library reuse each
 * other's downloads):
 *
 *   <cache>/models--ORG--NAME/
 *     blobs/<etag>                     file contents, named by git sha1 or LFS sha256
 *     blobs/<etag>.incomplete          partial download, resumed with a Range request
 *     snapshots/<commit>/<filename>    relative symlink to ../../blobs/<etag>
 *     refs/<revision>                  commit sha the branch/tag pointed to when last seen
 *     .no_exist/<commit>/<filename>    empty marker: the file is absent at that commit
 *   <cache>/.locks/models--ORG--NAME/<etag>.gliner-tf.lock   (ours; Python uses <etag>.lock)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { HubError } from './errors';
import { sleep } from './http';

export type RepoType = 'model' | 'dataset' | 'space';

export const COMMIT_HASH_RE = /^[0-9a-f]{40}$/;

/** Path-safe token for etags and commits coming from the server (they become file names). */
const SAFE_NAME_RE = /^[A-Za-z0-9._-]+$/;

export function isSafeName(s: string): boolean {
  return SAFE_NAME_RE.test(s) && s !== '.' && s !== '..';
}

/** Same rules as huggingface_hub's validate_repo_id: "name" or "namespace/name". */
export function validateRepoId(repoId: string): void {
  const ok =
    /^[\w.-]+(\/[\w.-]+)?$/.test(repoId) &&
    !repoId.includes('--') &&
    !repoId.includes('..') &&
    !/^[.-]|[.-]$/.test(repoId) &&
    repoId.length <= 96;
  if (!ok) {
    throw new HubError(
      'InvalidArgument',
      `Invalid repo id '${repoId}': expected 'name' or 'namespace/name' made of letters, digits, '-', '_' and '.', ` +
        `without '--' or '..' and at most 96 characters.`,
    );
  }
}

/** A repo-relative file name: forward slashes, no empty, '.' or '..' segments. */
export function validateFilename(filename: string): void {
  const parts = filename.split('/');
  const ok =
    filename.length > 0 && !filename.includes('\\') && !filename.includes('\0') && parts.every((p) => p !== '' && p !== '.' && p !== '..');
  if (!ok) throw new HubError('InvalidArgument', `Invalid file name '${filename}': expected a relative path inside the repo.`);
}

/** Revisions become URL and refs/ path components: allow branch-like names only. */
export function validateRevision(revision: string): void {
  const parts = revision.split('/');
  const ok = revision.length > 0 && !revision.includes('\\') && !revision.includes('\0') && parts.every((p) => p !== '' && p !== '.' && p !== '..');
  if (!ok) throw new HubError('InvalidArgument', `Invalid revision '${revision}'.`);
}

/** "models--ORG--NAME" (datasets--, spaces-- for the other repo types). */
export function repoFolderName(repoId: string, repoType: RepoType = 'model'): string {
  return [`${repoType}s`, ...repoId.split('/')].join('--');
}

export function storageFolder(cacheDir: string, repoId: string, repoType: RepoType = 'model'): string {
  return path.join(cacheDir, repoFolderName(repoId, repoType));
}

/** snapshots/<commit>/<filename>, checked to stay inside snapshots/<commit>. */
export function pointerPath(storage: string, commit: string, filename: string): string {
  const dir = path.join(storage, 'snapshots', commit);
  const p = path.join(dir, ...filename.split('/'));
  if (!p.startsWith(dir + path.sep)) throw new HubError('InvalidArgument', `Invalid file name '${filename}'.`);
  return p;
}

export function blobPath(storage: string, etag: string): string {
  return path.join(storage, 'blobs', etag);
}

export function refPath(storage: string, revision: string): string {
  return path.join(storage, 'refs', ...revision.split('/'));
}

export function noExistPath(storage: string, commit: string, filename: string): string {
  return path.join(storage, '.no_exist', commit, ...filename.split('/'));
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile(); // follows the snapshot symlink: a dangling link is "absent"
  } catch {
    return false;
  }
}

/** The commit a revision resolves to from the cache alone: itself if a sha, else refs/<revision>. */
export function cachedCommit(storage: string, revision: string): string | null {
  if (COMMIT_HASH_RE.test(revision)) return revision;
  try {
    const sha = fs.readFileSync(refPath(storage, revision), 'utf8').trim();
    return isSafeName(sha) ? sha : null;
  } catch {
    return null;
  }
}

export type CacheLookup =
  | { status: 'cached'; path: string; commit: string }
  | { status: 'no-exist'; commit: string }
  | { status: 'missing'; commit: string | null; checked: string };

/**
 * Look a file up in the cache without any network access. `checked` names what was missing
 * (the refs file or the snapshot path) for error messages.
 */
export function lookupCache(storage: string, revision: string, filename: string): CacheLookup {
  const commit = cachedCommit(storage, revision);
  if (commit === null) return { status: 'missing', commit: null, checked: refPath(storage, revision) };
  const pointer = pointerPath(storage, commit, filename);
  if (isFile(pointer)) return { status: 'cached', path: pointer, commit };
  if (isFile(noExistPath(storage, commit, filename))) return { status: 'no-exist', commit };
  return { status: 'missing', commit, checked: pointer };
}

/** Write refs/<revision> atomically, and only when it changes (the cache may be read-only). */
export function writeRef(storage: string, revision: string, commit: string): void {
  if (revision === commit) return;
  const ref = refPath(storage, revision);
  try {
    if (fs.readFileSync(ref, 'utf8').trim() === commit) return;
  } catch {
    // no ref yet
  }
  fs.mkdirSync(path.dirname(ref), { recursive: true });
  const tmp = `${ref}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`;
  fs.writeFileSync(tmp, commit);
  fs.renameSync(tmp, ref);
}

/** Record that `filename` does not exist at `commit`, so later lookups need no request. */
export function markNoExist(storage: string, commit: string, filename: string): void {
  try {
    const marker = noExistPath(storage, commit, filename);
    fs.mkdirSync(path.dirname(marker), { recursive: true });
    fs.closeSync(fs.openSync(marker, 'a'));
  } catch {
    // Only an optimisation: a read-only cache must not turn a 404 into a different error.
  }
}

/**
 * Make snapshots/<commit>/<filename> point at the blob: a relative symlink (survives moving the
 * cache folder), or where symlinks are unavailable (Windows without developer mode, some network
 * file systems, HF_HUB_DISABLE_SYMLINKS) a real file: a freshly downloaded blob is moved, an
 * existing one copied since other snapshots may use it.
 */
export function linkPointer(blob: string, pointer: string, opts: { newBlob: boolean; useSymlinks: boolean }): void {
  fs.mkdirSync(path.dirname(pointer), { recursive: true });
  fs.rmSync(pointer, { force: true });
  if (opts.useSymlinks) {
    try {
      fs.symlinkSync(path.relative(path.dirname(pointer), blob), pointer, 'file');
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        // Another process linked it between our rm and symlink: fine if it is the same blob.
        if (fs.realpathSync(pointer) === fs.realpathSync(blob)) return;
        throw e;
      }
      if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP' && code !== 'EINVAL' && code !== 'ENOSYS') throw e;
    }
  }
  if (opts.newBlob) fs.renameSync(blob, pointer);
  else fs.copyFileSync(blob, pointer);
}

// ---------------------------------------------------------------------------------------------
// Download lock: one writer per blob across processes, since the .incomplete file is shared so
// that downloads can resume. Exclusive file creation, holder identified by pid@host. Best effort,
// like huggingface_hub's own lock.

const HEARTBEAT_MS = 30_000;
const FOREIGN_STALE_MS = 5 * 60_000;
const heldLocks = new Set<string>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

/**
 * A lock is stale when its holder is gone: on this host, its pid is dead (or is our own pid
 * but we do not hold it: a leftover from an earlier process that had the same pid, common in
 * containers); on another host (shared cache), it has not been touched for 5 minutes.
 */
function lockIsStale(lockPath: string): boolean {
  let content: string;
  let mtimeMs: number;
  try {
    content = fs.readFileSync(lockPath, 'utf8').trim();
    mtimeMs = fs.statSync(lockPath).mtimeMs;
  } catch {
    return false; // vanished or unreadable: just try again
  }
  const m = /^(\d+)@(.*)$/.exec(content);
  if (m && m[2] === os.hostname()) {
    const pid = Number(m[1]);
    if (pid === process.pid) return !heldLocks.has(lockPath);
    return !pidAlive(pid);
  }
  // Foreign host, or a half-written lock file: judge by age.
  return Date.now() - mtimeMs > (m ? FOREIGN_STALE_MS : 10_000);
}

export interface LockHandle {
  /** Call while working (cheap, rate-limited) so other hosts do not consider the lock stale. */
  heartbeat(): void;
}

export async function withFileLock<T>(lockPath: string, fn: (lock: LockHandle) => Promise<T>, pollMs = 200): Promise<T> {
  fs.mkdirSync(path.dirname(lockPath), { recursive: true });
  for (;;) {
    try {
      // Exclusive create is atomic on local and modern network file systems.
      fs.writeFileSync(lockPath, `${process.pid}@${os.hostname()}\n`, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (lockIsStale(lockPath)) fs.rmSync(lockPath, { force: true });
    else await sleep(pollMs);
  }
  heldLocks.add(lockPath);
  let lastBeat = Date.now();
  const handle: LockHandle = {
    heartbeat() {
      const now = Date.now();
      if (now - lastBeat < HEARTBEAT_MS) return;
      lastBeat = now;
      try {
        fs.utimesSync(lockPath, now / 1000, now / 1000);
      } catch {
        // ignore: worst case another host waits for us a little less
      }
    },
  };
  try {
    return await fn(handle);
  } finally {
    heldLocks.delete(lockPath);
    fs.rmSync(lockPath, { force: true });
  }
}
