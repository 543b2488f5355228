/**
 * An exclusive lock on a training output folder, so two trainers writing into one `--output`
 * fail fast instead of silently overwriting each other's checkpoints and `final/`.
 *
 * The lock is the file `<dir>/.gliner-tf-train.lock`, holding {pid, host, started, token}. It is
 * created whole or not at all: written to a private temporary file, then hard-linked to the lock
 * name (link fails with EEXIST when the lock exists, on local and NFS file systems alike).
 * The holder refreshes the file's mtime every `heartbeatMs` (a heartbeat) and removes the file
 * when it is released, when the process exits, or on SIGINT / SIGTERM through the trainer's
 * normal shutdown.
 *
 * A lock is stale, and is taken over, when its holder is on this host and its pid is not
 * running (a crash, SIGKILL, OOM kill), or when its heartbeat is older than `staleMs` (a holder
 * on another host that died). Take-over renames the stale file away first and checks that what
 * it moved is the lock it judged stale, so two processes recovering at once cannot both win.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const LOCK_FILE = '.gliner-tf-train.lock';

export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  started: string;
  /** Unique per acquisition, to tell one holder's lock from another's. */
  token: string;
}

export interface OutputLockOptions {
  /** How often the holder refreshes the lock's mtime. Default 15 s. */
  heartbeatMs?: number;
  /** A lock whose heartbeat is older than this is stale even if its pid may be alive elsewhere. Default 10 min. */
  staleMs?: number;
  /** Told when a stale lock is taken over. */
  onStale?: (message: string) => void;
}

export class OutputLockedError extends Error {
  readonly code = 'OUTPUT_LOCKED';
  constructor(
    readonly dir: string,
    readonly holder: LockHolder | null,
    readonly lockFile: string,
  ) {
    const who = holder ? `pid ${holder.pid} on host ${holder.host}, started ${holder.started}` : 'a process whose lock file cannot be read';
    super(
      `${dir} is in use by another training run (${who}). Wait for it to finish or choose another --output; ` +
        `if that run is gone, delete ${lockFile}`,
    );
    this.name = 'OutputLockedError';
  }
}

/** True unless the pid certainly does not exist on this host. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): { holder: LockHolder | null; mtimeMs: number } | null {
  let text: string;
  let mtimeMs: number;
  try {
    mtimeMs = fs.statSync(file).mtimeMs;
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const v = JSON.parse(text) as LockHolder;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.token === 'string') return { holder: v, mtimeMs };
  } catch {
    // fall through: unreadable content (not written by us; we create the lock whole)
  }
  return { holder: null, mtimeMs };
}

export class OutputLock {
  private timer: NodeJS.Timeout | null = null;
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(
    readonly dir: string,
    readonly file: string,
    readonly holder: LockHolder,
    heartbeatMs: number,
  ) {
    this.timer = setInterval(() => {
      try {
        const now = new Date();
        fs.utimesSync(this.file, now, now);
      } catch {
        // the folder may be gone; nothing to refresh
      }
    }, heartbeatMs);
    this.timer.unref();
    process.once('exit', this.onExit);
  }

  /** Take the lock on `dir` (created if missing), or throw OutputLockedError naming the holder. */
  static acquire(dir: string, options: OutputLockOptions = {}): OutputLock {
    const heartbeatMs = options.heartbeatMs ?? 15_000;
    const staleMs = options.staleMs ?? 10 * 60_000;
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, LOCK_FILE);
    const holder: LockHolder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(), token: crypto.randomBytes(8).toString('hex') };
    // a process killed between writing its temporary lock and linking it leaves the former behind
    for (const name of fs.readdirSync(dir)) {
      if (!name.startsWith(`${LOCK_FILE}.`) || !name.endsWith('.tmp')) continue;
      const f = path.join(dir, name);
      try {
        if (Date.now() - fs.statSync(f).mtimeMs > 60_000) fs.rmSync(f, { force: true });
      } catch {
        // gone meanwhile
      }
    }
    const tmp = path.join(dir, `${LOCK_FILE}.${holder.token}.tmp`);
    fs.writeFileSync(tmp, JSON.stringify(holder) + '\n');
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          fs.linkSync(tmp, file);
          return new OutputLock(dir, file, holder, heartbeatMs);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
        const seen = readHolder(file);
        if (seen === null) continue; // released meanwhile: try again
        const why = OutputLock.staleReason(seen, staleMs);
        if (why === null) throw new OutputLockedError(dir, seen.holder, file);
        if (OutputLock.removeIfSame(file, seen.holder)) {
          options.onStale?.(`${dir}: taking over a stale lock (${why})`);
        }
      }
      throw new OutputLockedError(dir, readHolder(file)?.holder ?? null, file);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Why a lock is stale, or null when its holder may still be running. */
  private static staleReason(seen: { holder: LockHolder | null; mtimeMs: number }, staleMs: number): string | null {
    const age = Date.now() - seen.mtimeMs;
    const h = seen.holder;
    if (h && h.host === os.hostname() && !pidAlive(h.pid)) return `pid ${h.pid} on this host is not running`;
    if (age > staleMs) return `no heartbeat for ${Math.round(age / 1000)} s${h ? ` from pid ${h.pid} on ${h.host}` : ''}`;
    return null;
  }

  /** Moves the lock away and deletes it if it is still the one judged stale; puts it back otherwise. */
  private static removeIfSame(file: string, judged: LockHolder | null): boolean {
    const aside = `${file}.stale-${crypto.randomBytes(6).toString('hex')}`;
    try {
      fs.renameSync(file, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    const moved = readHolder(aside)?.holder ?? null;
    if ((moved?.token ?? null) === (judged?.token ?? null)) {
      fs.rmSync(aside, { force: true });
      return true;
    }
    // Someone else took the lock between our read and the rename: give it back.
    try {
      fs.linkSync(aside, file);
    } catch {
      // a third process holds it now; the moved lock is theirs to lose, not ours to keep
    }
    fs.rmSync(aside, { force: true });
    return false;
  }

  /** Drop the lock (only if the file is still ours). Safe to call more than once. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    process.removeListener('exit', this.onExit);
    try {
      if (readHolder(this.file)?.holder?.token === this.holder.token) fs.rmSync(this.file, { force: true });
    } catch {
      // best effort: a lock left behind is recovered as stale (its pid is gone)
    }
  }
}
