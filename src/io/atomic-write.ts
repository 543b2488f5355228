/**
 * Writing files and folders so that a kill at any moment, or a full disk, never leaves a
 * half-written file under its real name and never damages what was there before.
 *
 * Everything is first written under a temporary sibling name in the same folder
 * (`<name>.tmp-<pid>-<12 hex>`), fsynced, then renamed into place; rename within one file system
 * is atomic. A folder that is being replaced or deleted is first renamed to
 * `<name>.old-<pid>-<12 hex>`, so its real name never points at half a folder either.
 * `cleanStaleTemp` removes what a killed process left behind (and puts back a `.old-` folder
 * whose replacement never arrived).
 */
import * as fs from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';

const TEMP_NAME = /^(.*)\.(tmp|old)-(\d+)-[0-9a-f]{12}$/;

/** A fresh temporary name beside `target`. */
export function tempSiblingPath(target: string, kind: 'tmp' | 'old' = 'tmp'): string {
  return `${target}.${kind}-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** fsync a folder so that a rename in it survives a crash; not every platform allows it (Windows). */
export function syncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // best effort: the rename itself is still atomic
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

const WRITE_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on device (ENOSPC)',
  EDQUOT: 'disk quota exceeded (EDQUOT)',
  EFBIG: 'file too large for this file system or ulimit (EFBIG)',
  EROFS: 'read-only file system (EROFS)',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'operation not permitted (EPERM)',
};

/** The reason a write failed, in words, keeping the errno code. */
export function describeWriteError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string' && WRITE_ERRORS[err.code]) return WRITE_ERRORS[err.code];
  return err instanceof Error ? err.message : String(e);
}

/** True when a write failed because the disk (or the user's quota) is full. */
export function isDiskFullError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || (e instanceof FileWriteError && isDiskFullError(e.cause));
}

/** A failed atomic write: names the file; `cause` is the system error. */
export class FileWriteError extends Error {
  constructor(
    readonly file: string,
    override readonly cause: unknown,
  ) {
    super(`${file}: cannot write file (${describeWriteError(cause)})`);
    this.name = 'FileWriteError';
  }
}

/**
 * Write `bytes` to `file` so that readers see either the old file or the complete new one:
 * write a temporary sibling, fsync it, rename it over `file`. The temporary file is removed if
 * anything fails (a full disk included), so a failed write leaves the folder as it was.
 */
export function writeFileAtomicSync(file: string, bytes: Uint8Array): void {
  const tmp = tempSiblingPath(file);
  try {
    const fd = fs.openSync(tmp, 'wx');
    try {
      let done = 0;
      while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new FileWriteError(file, e);
  }
  syncDirSync(path.dirname(file));
}

/** Async form of `writeFileAtomicSync`. */
export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = tempSiblingPath(file);
  try {
    const handle = await fs.promises.open(tmp, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw new FileWriteError(file, e);
  }
  syncDirSync(path.dirname(file));
}

/**
 * Build a folder at `target` atomically: `fill` writes its files into a temporary sibling, which
 * is then renamed into place. An existing `target` is first moved aside (`.old-`) and deleted
 * after the swap. If `fill` fails, the temporary folder is removed and `target` is untouched.
 */
export async function writeFolderAtomic(target: string, fill: (dir: string) => Promise<void>): Promise<string> {
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = tempSiblingPath(target);
  fs.mkdirSync(tmp);
  let old: string | null = null;
  try {
    await fill(tmp);
    if (fs.existsSync(target)) {
      old = tempSiblingPath(target, 'old');
      fs.renameSync(target, old);
    }
    fs.renameSync(tmp, target);
    syncDirSync(parent);
  } catch (e) {
    if (old && !fs.existsSync(target)) fs.renameSync(old, target);
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  if (old) fs.rmSync(old, { recursive: true, force: true });
  return target;
}

/** Delete a folder so that its name disappears at once (rename first, then delete the files). */
export function removeFolderAtomic(dir: string): void {
  const old = tempSiblingPath(dir, 'old');
  fs.renameSync(dir, old);
  syncDirSync(path.dirname(dir));
  fs.rmSync(old, { recursive: true, force: true });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Clear what killed writers left directly in `dir`: `.tmp-` files and folders are deleted; an
 * `.old-` folder is put back under its name if nothing replaced it (the kill came between the two
 * renames of a replacement), and deleted otherwise. Entries of live processes (another writer may
 * be working right now) are left alone. Returns the names acted on.
 */
export function cleanStaleTemp(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const touched: string[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[3]);
    if (pid !== process.pid && processAlive(pid)) continue;
    const full = path.join(dir, name);
    const original = path.join(dir, m[1]);
    if (m[2] === 'old' && !fs.existsSync(original)) fs.renameSync(full, original);
    else fs.rmSync(full, { recursive: true, force: true });
    touched.push(name);
  }
  return touched;
}
